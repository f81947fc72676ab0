/** Completion of the text workflow's keys: data.format, data.promptTemplate, evaluation.tasks. */
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { parseRunConfig } from '../../protocol/configValidate';
import { completionItems, yamlCompletionContext } from './completion';

async function labels(textWithBar: string, baseDir?: string): Promise<string[]> {
  const offset = textWithBar.indexOf('|');
  const text = textWithBar.slice(0, offset) + textWithBar.slice(offset + 1);
  const ctx = yamlCompletionContext(text, offset);
  assert.ok(ctx, 'a completion context');
  const items = await completionItems(ctx, {
    parsed: parseRunConfig(text), baseDir, snippets: false,
    inspect: async () => { throw new Error('no model here'); },
  });
  return items.map((i) => i.label);
}

test('data.format, data.promptTemplate and the evaluation section complete', async () => {
  assert.deepEqual(await labels('task: causal-lm\ndata:\n  dataset: jsonl\n  format: |\n'), ['text', 'alpaca', 'chat']);
  assert.deepEqual(await labels('data:\n  promptTemplate: |\n'), ['auto', 'alpaca', 'chat-template']);
  const dataKeys = await labels('data:\n  dataset: jsonl\n  |\n');
  for (const key of ['format', 'promptTemplate', 'chatTemplate']) assert.ok(dataKeys.includes(key), `${key} in ${dataKeys}`);
  assert.deepEqual(await labels('evaluation:\n  |\n'), ['tasks', 'limit']);
  assert.deepEqual(await labels('training:\n  methodLr:\n    |\n'), ['spruft', 'lora', 'full', 'head', 'vera', 'dora']);
  const dir = mkdtempSync(join(tmpdir(), 'spruft-complete-'));
  writeFileSync(join(dir, 'piqa.jsonl'), '{}\n');
  assert.ok((await labels('evaluation:\n  tasks:\n    - pi|\n', dir)).includes('piqa.jsonl'));
});
