/**
 * The user's own images: a folder with one subfolder per class (torchvision's ImageFolder
 * layout; class folders sorted by name give the label order) or a manifest table of
 * image path (or bytes) and label (tabular.ts), as image refs with labels. Nothing is
 * opened here (imageDecode.ts decodes), so `spruft check` and the language server list a
 * folder without loading an image library.
 */
import { readdirSync, statSync } from 'node:fs';
import { extname, join } from 'node:path';
import type { Normalization } from '../../../protocol/config';
import { SpruftError } from '../errors';
import type { DataIssues, ImageRef } from './tabular';

/** What torchvision's ImageFolder would also take, limited to the formats decoded here. */
export const IMAGE_EXTENSIONS = ['.jpg', '.jpeg', '.png', '.webp'] as const;

export interface ImageInputShape {
  height: number;
  width: number;
  channels: 1 | 3;
  normalize: Normalization;
  /** `crop`: scale the shorter side to fit, crop the centre (torchvision's Resize + CenterCrop); `stretch`: scale each side. */
  fit: 'crop' | 'stretch';
}

/** Images with labels, not yet decoded; `where` names each for messages. */
export interface ImageRefSet {
  refs: ImageRef[];
  where: string[];
  labels: Int32Array;
  labelNames: string[];
}

export function subsetRefs(set: ImageRefSet, indices: ArrayLike<number>, labels?: Int32Array, labelNames?: string[]): ImageRefSet {
  const idx = Array.from(indices);
  return {
    refs: idx.map((i) => set.refs[i]), where: idx.map((i) => set.where[i]),
    labels: labels ?? Int32Array.from(idx, (i) => set.labels[i]), labelNames: labelNames ?? set.labelNames,
  };
}

function isImageFile(name: string): boolean {
  return (IMAGE_EXTENSIONS as readonly string[]).includes(extname(name).toLowerCase());
}

/** Files under `dir`, recursively (as torchvision walks a class folder), hidden ones left out. */
function walk(dir: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir).sort()) {
    if (name.startsWith('.')) continue;
    const path = join(dir, name);
    if (statSync(path).isDirectory()) out.push(...walk(path));
    else out.push(path);
  }
  return out;
}

/**
 * A class-per-subfolder tree -> image refs and labels. A file that is not JPEG, PNG or
 * WebP by its extension, an image outside any class folder, a class folder outside
 * `labelNames`, and a class without images are issues (an error, or counted and left out
 * under `onError: skip`). Images are not opened here (`verifyImages` does that).
 */
export function listImageFolder(dir: string, o: { labelNames?: string[]; issues: DataIssues }): ImageRefSet {
  let entries: string[];
  try {
    if (!statSync(dir).isDirectory()) throw new SpruftError('DATA_INVALID', 'data.path of an image-folder must be a folder (one subfolder per class) or a manifest table', dir);
    entries = readdirSync(dir).filter((n) => !n.startsWith('.')).sort();
  } catch (err) {
    if (err instanceof SpruftError) throw err;
    throw new SpruftError('FILE_NOT_FOUND', 'image folder not found; check data.path', dir);
  }
  const classDirs = entries.filter((n) => statSync(join(dir, n)).isDirectory());
  for (const n of entries) {
    if (!classDirs.includes(n) && isImageFile(n)) o.issues.add(join(dir, n), 'an image outside any class folder has no label; put it in the folder of its class');
  }
  if (classDirs.length === 0) throw new SpruftError('DATA_INVALID', 'no class folders: an image folder holds one subfolder per class, each with its images', dir);
  const names = o.labelNames ?? classDirs;
  if (o.labelNames) {
    for (const n of classDirs) if (!o.labelNames.includes(n)) o.issues.add(join(dir, n), `class folder "${n}" is not one of data.labelNames (${o.labelNames.join(', ')})`);
  }
  const set: ImageRefSet = { refs: [], where: [], labels: new Int32Array(0), labelNames: [] };
  const labels: number[] = [];
  const kept: string[] = [];
  for (const name of names) {
    const classDir = join(dir, name);
    const files = classDirs.includes(name) ? walk(classDir) : [];
    let count = 0;
    for (const file of files) {
      if (!isImageFile(file)) {
        o.issues.add(file, `not an image file ("${extname(file) || 'no extension'}"): class folders hold ${IMAGE_EXTENSIONS.join(', ')} files`);
        continue;
      }
      set.refs.push({ path: file });
      set.where.push(file);
      labels.push(kept.length);
      count += 1;
    }
    if (count === 0) {
      // Under skip an empty class is left out: the classifier gets no output for it.
      o.issues.add(classDir, `class "${name}" has no image${classDirs.includes(name) ? '' : ' (no such folder)'}`);
      continue;
    }
    kept.push(name);
  }
  set.labels = Int32Array.from(labels);
  set.labelNames = kept;
  if (kept.length < 2) throw new SpruftError('DATA_INVALID', `${kept.length} class${kept.length === 1 ? '' : 'es'} with images; classification needs at least 2`, dir);
  return set;
}
