import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { yamlCompletionContext, jsonCompletionContext } from './completion';
import { parseRunConfig } from '../../protocol/configValidate';

/** The context at the `|` in `text` (the bar is removed). */
function at(textWithBar: string) {
  const offset = textWithBar.indexOf('|');
  const text = textWithBar.slice(0, offset) + textWithBar.slice(offset + 1);
  return { ctx: yamlCompletionContext(text, offset), text, offset };
}

describe('where the cursor is, read from the text', () => {
  it('offers keys of the section given by indentation', () => {
    const { ctx } = at('model:\n  path: x\ntraining:\n  lr: 1\n  ba|\nspruft:\n  rank: 2\n');
    assert.equal(ctx?.kind, 'key');
    assert.deepEqual(ctx?.path, ['training']);
    assert.equal(ctx?.prefix, 'ba');
    assert.deepEqual(ctx?.siblings, ['lr']);
  });

  it('reads nested sections and skips comments and blank lines', () => {
    const { ctx } = at('spruft:\n  importance:\n    # the metric\n\n    |\n');
    assert.deepEqual([ctx?.kind, ctx?.path], ['key', ['spruft', 'importance']]);
  });

  it('offers values after `key: `', () => {
    const { ctx, offset } = at('spruft:\n  importance:\n    metric: qm|-taylor\n');
    assert.deepEqual([ctx?.kind, ctx?.path, ctx?.prefix], ['value', ['spruft', 'importance', 'metric'], 'qm']);
    assert.deepEqual(ctx?.replace, [offset - 2, offset + '-taylor'.length], 'the whole value is replaced');
  });

  it('offers list items in flow lists and block lists', () => {
    const flow = at('targets:\n  include: ["*.mlp.*", "*.q|\n').ctx;
    assert.deepEqual([flow?.path, flow?.listItem, flow?.quote, flow?.prefix], [['targets', 'include'], true, '"', '*.q']);
    const block = at('targets:\n  exclude:\n    - lm|\n').ctx;
    assert.deepEqual([block?.path, block?.listItem, block?.prefix], [['targets', 'exclude'], true, 'lm']);
    const sameIndent = at('targets:\n  exclude:\n  - |\n').ctx;
    assert.deepEqual(sameIndent?.path, ['targets', 'exclude'], 'a list may sit at its key\'s indentation');
  });

  it('offers nothing in comments', () => {
    assert.equal(at('training:\n  lr: 1  # pe|\n').ctx, undefined);
  });

  it('offers string values in JSON files from the syntax tree', () => {
    const text = '{"model": {"path": "m", "cutAt": "blo"}}';
    const offset = text.indexOf('blo') + 3;
    const ctx = jsonCompletionContext(parseRunConfig(text, 'json'), offset);
    assert.deepEqual([ctx?.path, ctx?.prefix, ctx?.quote], [['model', 'cutAt'], 'blo', '"']);
  });
});
