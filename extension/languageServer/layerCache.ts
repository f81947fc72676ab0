/**
 * A model's layer list, kept per config document: completion, hover and diagnostics of
 * one file ask for it often, and reading a header is file I/O. An entry is dropped when
 * the document names another model (or closes), when the model's files change on disk
 * (their modification times are compared on each use, and file events drop it at once).
 */
import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { ModelFormat } from '../../protocol/config';
import type { InspectResult } from '../../protocol/results';
import type { ModelInspector } from '../../runner/src/config/semantic';

interface Entry {
  key: string;
  stamp: string;
  result: Promise<InspectResult>;
}

/** Files whose times tell whether a model changed. */
const STAMP_FILES = ['', 'config.json', 'model.safetensors', 'model.safetensors.index.json', 'model.json'];

async function stampOf(modelPath: string): Promise<string> {
  if (modelPath.startsWith('npm:')) return 'npm';
  const parts = await Promise.all(
    STAMP_FILES.map(async (name) => {
      try {
        const s = await stat(name ? join(modelPath, name) : modelPath);
        return `${s.mtimeMs}:${s.size}`;
      } catch {
        return '-';
      }
    }),
  );
  return parts.join('|');
}

export class LayerCache {
  private readonly entries = new Map<string, Entry>();
  /** How many times the inspector really ran (for tests of the cache). */
  reads = 0;

  constructor(private readonly inspect: ModelInspector) {}

  /** An inspector bound to one document: what semantic checks and completion call. */
  forDocument(uri: string): ModelInspector {
    return (path, options) => this.get(uri, path, options);
  }

  async get(uri: string, modelPath: string, options: { format?: ModelFormat; cutAt?: string }): Promise<InspectResult> {
    const key = JSON.stringify([modelPath, options.format ?? 'auto', options.cutAt ?? '']);
    const stamp = await stampOf(modelPath);
    const slot = `${uri}\u0000${key}`;
    const entry = this.entries.get(slot);
    if (entry && entry.stamp === stamp) return entry.result;
    // One document asks for its model with and without `cutAt`; others of its entries are stale.
    for (const [k, e] of this.entries) if (k.startsWith(`${uri}\u0000`) && JSON.parse(e.key)[0] !== modelPath) this.entries.delete(k);
    this.reads++;
    const result = this.inspect(modelPath, options);
    this.entries.set(slot, { key, stamp, result });
    // A model that does not read is asked again next time (it may be being written).
    result.catch(() => {
      if (this.entries.get(slot)?.result === result) this.entries.delete(slot);
    });
    return result;
  }

  /** The document closed. */
  dropDocument(uri: string): void {
    for (const k of [...this.entries.keys()]) if (k.startsWith(`${uri}\u0000`)) this.entries.delete(k);
  }

  /** A file changed on disk: drop the models it belongs to. */
  dropFile(path: string): void {
    for (const [k, e] of [...this.entries]) {
      const modelPath = JSON.parse(e.key)[0] as string;
      if (path === modelPath || path.startsWith(modelPath.endsWith('/') ? modelPath : `${modelPath}/`)) this.entries.delete(k);
    }
  }

  get size(): number {
    return this.entries.size;
  }
}
