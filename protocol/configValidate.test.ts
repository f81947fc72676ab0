import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Value } from '@sinclair/typebox/value';
import { parse as parseYaml } from 'yaml';
import { RunConfigSchema, runConfigJsonSchema } from './config';
import {
  CROSS_CHECK_PATHS,
  LineIndex,
  MAX_DIAGNOSTICS,
  UNDERSTOOD_KEYWORDS,
  checkRunConfigText,
  editDistance,
  locateOffset,
  nearestNames,
  parseRunConfig,
  rangeOfPath,
  runConfigSchema,
  schemaAt,
  type SchemaNode,
} from './configValidate';
import type { ConfigDiagnostic, ConfigFix, ConfigRange } from './diagnostics';

/** The range of `needle` in the first `context` of `text` (for needles that repeat). */
function within(text: string, context: string, needle: string): ConfigRange {
  const start = text.indexOf(context);
  assert.ok(start >= 0, `"${context}" is in the text`);
  const index = text.indexOf(needle, start);
  return new LineIndex(text).range(index, index + needle.length);
}

/** The range of the `nth` occurrence of `needle` in `text`. */
function at(text: string, needle: string, nth = 1): ConfigRange {
  let index = -1;
  for (let i = 0; i < nth; i++) {
    index = text.indexOf(needle, index + 1);
    assert.ok(index >= 0, `"${needle}" (occurrence ${nth}) is in the text`);
  }
  return new LineIndex(text).range(index, index + needle.length);
}

function applyFix(text: string, fix: ConfigFix): string {
  const lines = new LineIndex(text);
  return text.slice(0, lines.offsetAt(fix.range.start)) + fix.newText + text.slice(lines.offsetAt(fix.range.end));
}

function only(diagnostics: ConfigDiagnostic[], code: string): ConfigDiagnostic {
  const found = diagnostics.filter((d) => d.code === code);
  assert.equal(found.length, 1, `one ${code} in ${JSON.stringify(diagnostics.map((d) => [d.code, d.message]), null, 1)}`);
  return found[0]!;
}

const VALID = `# a valid config
model:
  path: ../models/llama-tiny
task: causal-lm
data:
  dataset: text
  path: corpus.txt
  text:
    maxLength: 64
method: spruft
compare: [lora]
spruft:
  rank: 8
  importance:
    metric: zo-taylor
    perturbations: 5
targets:
  include: ["*.mlp.*"]
  freezeAttention: true
lora:
  rank: 8
training:
  lr: 2e-5
  schedule: linear
  warmup: 0.03
  linearDecayTo: 0.01
  epochs: 5
backend: wasm
`;

function walkSchema(node: SchemaNode, visit: (node: SchemaNode, path: string) => void, path = ''): void {
  visit(node, path);
  for (const [key, child] of Object.entries(node.properties ?? {})) walkSchema(child, visit, path ? `${path}.${key}` : key);
  if (node.items) walkSchema(node.items, visit, `${path}[]`);
  for (const alt of node.anyOf ?? []) walkSchema(alt, visit, `${path}|`);
}

describe('the schema', () => {
  it('uses only the keywords the walker understands', () => {
    const understood = new Set<string>(UNDERSTOOD_KEYWORDS);
    walkSchema(runConfigSchema, (node, path) => {
      for (const key of Object.keys(node)) assert.ok(understood.has(key), `${path || '(root)'} uses "${key}", which configValidate does not check`);
    });
  });

  it('documents every key with its default (or that it is required) and where it comes from', () => {
    walkSchema(runConfigSchema, (node, path) => {
      for (const [key, child] of Object.entries(node.properties ?? {})) {
        const docs = child.markdownDescription ?? '';
        const where = `${path ? path + '.' : ''}${key}`;
        assert.match(docs, /Default|Required/, `${where} states its default`);
        assert.match(docs, /paper|eq\.|appendix|Engine option|Not in the paper/i, `${where} says where it comes from`);
      }
    });
  });

  it('has docs for each value of every enum', () => {
    walkSchema(runConfigSchema, (node, path) => {
      if (node.enum && typeof node.enum[0] === 'string' && path !== 'compare[]') {
        assert.equal(node.markdownEnumDescriptions?.length, node.enum.length, `${path} documents its values`);
      }
    });
  });

  it('has the keys that the rules across keys read', () => {
    for (const path of CROSS_CHECK_PATHS) assert.ok(schemaAt(path), `${path.join('.')} is in the schema`);
  });

  it('is emitted as plain JSON Schema with the required keys only', () => {
    const schema = runConfigJsonSchema();
    const json = JSON.parse(JSON.stringify(schema)) as SchemaNode & Record<string, unknown>;
    assert.deepEqual(json, schema);
    assert.equal(json['$schema'], 'http://json-schema.org/draft-07/schema#');
    assert.deepEqual(json.required, ['model', 'task', 'data']);
    assert.deepEqual(json.properties?.model?.required, ['path']);
    assert.deepEqual(json.properties?.data?.required, ['dataset']);
    assert.equal(json.properties?.training?.required, undefined);
    walkSchema(json, (node, path) => assert.ok(!(node.enum && node.anyOf), `${path}: enum without the redundant anyOf`));
    assert.deepEqual(json.properties?.spruft?.allOf?.[0]?.not, { required: ['rank', 'ratio'] });
  });
});

describe('checking a run config', () => {
  it('finds nothing in a valid file and returns its content', () => {
    const result = checkRunConfigText(VALID);
    assert.deepEqual(result.diagnostics, []);
    assert.deepEqual(result.config, parseYaml(VALID));
  });

  // TypeBox checks each keyword of its own kinds; `allOf`/`not` (rank vs ratio) it leaves
  // to JSON Schema validators, and the test above covers it.
  it('agrees with TypeBox on what the schema accepts', () => {
    const mutations: Array<[string, string]> = [
      ['rank: 8\n  importance', 'rank: 0\n  importance'],
      ['lr: 2e-5', 'lr: "2e-5"'],
      ['lr: 2e-5', 'lr: -1'],
      ['epochs: 5', 'epochs: 1.5'],
      ['epochs: 5', 'epochs: [5]'],
      ['method: spruft', 'method: lora2'],
      ['warmup: 0.03', 'warmup: 0.6'],
      ['freezeAttention: true', 'freezeAttention: 1'],
      ['maxLength: 64', 'maxLength: 64.5'],
      ['compare: [lora]', 'compare: [lora, lora]'],
      ['compare: [lora]', 'compare: lora'],
      ['backend: wasm', 'backend: ""'],
      ['task: causal-lm', 'tsk: causal-lm'],
      ['training:\n', 'training:\n  lerning: 1\n'],
      ['', ''],
    ];
    for (const [from, to] of mutations) {
      const text = VALID.replace(from, to);
      const value = parseYaml(text) as unknown;
      const schemaErrors = checkRunConfigText(text).diagnostics.filter((d) => d.severity === 'error');
      assert.equal(schemaErrors.length === 0, Value.Check(RunConfigSchema, value), `"${to}": configValidate and TypeBox agree`);
    }
  });

  it('reports each kind of mistake at its place, saying what to do', () => {
    const text = [
      'model:', //                                 line 1
      '  path: ../models/vit',
      '  formatt: hf', //                          unknown key, near `format`
      'task: image-classification',
      'data:',
      '  dataset: text', //                        does not fit the task
      '  classes: [1]', //                         too few items
      'method: sprut', //                          enum with did-you-mean
      'lr: 0.1', //                                key of another section
      'spruft:',
      '  rank: 8',
      '  ratio: 0.1', //                           rank and ratio
      'training:',
      '  learning_rate: 1e-4', //                  another tool's name
      '  batchSize: "32"', //                      quoted number
      '  epochs: 0', //                            exclusive minimum
      '  gradAccumulation: 2.5', //                integer
      '  warmup: 0.9', //                          maximum
      '  seed: 1',
      '  seed: 2', //                              duplicate key
      'targets:',
      '  freezeAttention: yes', //                 YAML 1.1 boolean
      '  include: "*.mlp.*"', //                   list expected
      'output:',
      '  name: my run', //                         pattern
      '',
    ].join('\n');
    const { diagnostics } = checkRunConfigText(text);
    const expect = (code: string, range: ConfigRange, message: string) => {
      const d = diagnostics.find((x) => x.code === code && x.range.start.line === range.start.line);
      assert.ok(d, `${code} on line ${range.start.line + 1} in ${JSON.stringify(diagnostics.map((x) => [x.code, x.range.start.line + 1]))}`);
      assert.deepEqual(d.range, range, `${code} range`);
      assert.equal(d.message, message);
    };
    expect('unknown-key', at(text, 'formatt'), 'Unknown key `formatt` in `model`. Did you mean `format`?');
    expect('dataset-task-mismatch', at(text, 'text'), '`data.dataset: text` does not fit `task: image-classification`; that task reads `mnist`, `fashion-mnist`, `idx`, `image-folder`, `csv`, `tsv`, `jsonl` or `parquet`.');
    expect('too-few-items', at(text, '[1]'), '`data.classes` needs at least 2 entries (it has 1).');
    expect('invalid-value', at(text, 'sprut'), '`method` must be one of `spruft`, `lora`, `full`, `head`, `vera` or `dora`, not `sprut`. Did you mean `spruft`?');
    expect('unknown-key', at(text, 'lr'), 'Unknown key `lr` at the top level: it belongs in `training`; move it there.');
    expect('mutually-exclusive', at(text, 'ratio'), '`spruft.rank` and `spruft.ratio` exclude each other. Use either `rank` or `ratio`, not both.');
    expect('unknown-key', at(text, 'learning_rate'), 'Unknown key `learning_rate` in `training`: it is called `lr` here.');
    expect('type', at(text, '"32"'), '`training.batchSize` must be a number, not the string "32": remove the quotes.');
    expect('out-of-range', within(text, 'epochs: 0', '0'), '`training.epochs` must be greater than 0 (it is 0).');
    expect('type', at(text, '2.5'), '`training.gradAccumulation` must be a whole number, not 2.5.');
    expect('out-of-range', at(text, '0.9'), '`training.warmup` must be between 0 and 0.5 (it is 0.9).');
    expect('duplicate-key', at(text, 'seed', 2), '`training.seed` is set twice (first on line 19); keep one.');
    expect('type', at(text, 'yes'), '`targets.freezeAttention` must be `true` or `false`; YAML 1.2 reads `yes` as a string. Write `true`.');
    expect('type', at(text, '"*.mlp.*"'), '`targets.include` must be a list (e.g. `[*]` or `- item` lines), not the string "*.mlp.*".');
    expect('invalid-value', at(text, 'my run'), '`output.name`: `my run` is not allowed here. Use only letters, digits, `.`, `_` and `-`.');
    const errors = diagnostics.filter((d) => d.severity === 'error');
    expect('missing-key', at(text, 'data'), 'Missing `data.path`: the dataset `text` is read from a file or folder that you name. Add `path:` under `data`.');
    assert.equal(errors.length, 16, JSON.stringify(errors.map((d) => d.code)));
    assert.deepEqual(
      diagnostics.map((d) => d.range.start.line),
      [...diagnostics.map((d) => d.range.start.line)].sort((a, b) => a - b),
      'in document order',
    );
  });

  it('says what is missing, and where', () => {
    const empty = checkRunConfigText('# nothing yet\n');
    assert.deepEqual(
      empty.diagnostics.map((d) => [d.code, d.path.join('.')]),
      [['missing-key', 'model'], ['missing-key', 'task'], ['missing-key', 'data']],
    );
    assert.equal(
      empty.diagnostics[1]!.message,
      'Missing `task` at the top level: What is learned. Add `task:` with `image-classification`, `text-classification` or `causal-lm`.',
    );
    const text = 'model:\n  format: hf\ntask: causal-lm\ndata:\n  dataset: jsonl\n  path: train.jsonl\n';
    const { diagnostics } = checkRunConfigText(text);
    const path = only(diagnostics, 'missing-key');
    assert.deepEqual(path.range, at(text, 'model'));
    assert.match(path.message, /^Missing `path` in `model`: The pretrained model/);
    const data = checkRunConfigText('model: {path: m}\ntask: causal-lm\ndata:\n  dataset: jsonl\n').diagnostics;
    assert.deepEqual(data.map((d) => d.message), ['Missing `data.path`: the dataset `jsonl` is read from a file or folder that you name. Add `path:` under `data`.']);
  });

  it('warns about options that a setting elsewhere makes do nothing', () => {
    const text = VALID.replace('metric: zo-taylor', 'metric: l2').replace('schedule: linear', 'schedule: cosine').replace('compare: [lora]\n', '');
    const warnings = checkRunConfigText(text).diagnostics;
    assert.deepEqual(
      warnings.map((d) => [d.severity, d.code, d.message]),
      [
        ['warning', 'ignored-option', '`spruft.importance.perturbations` has no effect: the metric is `l2`; it is read by `zo-taylor` only.'],
        ['warning', 'ignored-option', '`lora` has no effect: `method` is `spruft` and `compare` does not name `lora` or `dora`.'],
        ['warning', 'ignored-option', '`training.linearDecayTo` has no effect: `training.schedule` is `cosine`.'],
      ],
    );
    assert.deepEqual(warnings[1]!.range, at(text, 'lora', 1));
  });

  it('knows that dora reads `lora:` and vera its own section, and that both adapt `targets:`', () => {
    const base = 'model: {path: m}\ntask: image-classification\ndata: {dataset: mnist}\ntargets: {layerTypes: [linear]}\n';
    assert.deepEqual(checkRunConfigText(`${base}method: dora\nlora: {rank: 4}\n`).diagnostics, []);
    assert.deepEqual(checkRunConfigText(`${base}method: vera\nvera: {rank: 64, dInitial: 0.5}\n`).diagnostics, []);
    assert.deepEqual(checkRunConfigText(`${base}method: full\nvera: {rank: 64}\n`).diagnostics.map((d) => d.message), [
      '`targets` has no effect: no method that adapts `targets` (spruft, lora, vera, dora) is trained.',
      '`vera` has no effect: `method` is `full` and `compare` does not name `vera`.',
    ]);
  });

  it('needs labels for qm-taylor', () => {
    const text = VALID.replace('metric: zo-taylor\n    perturbations: 5', 'metric: qm-taylor');
    const d = only(checkRunConfigText(text).diagnostics, 'metric-needs-labels');
    assert.deepEqual(d.range, at(text, 'qm-taylor'));
    assert.match(d.message, /needs a labelled classification task, but `task` is `causal-lm`/);
    assert.deepEqual(d.fixes?.map((f) => f.newText), ['zo-taylor', 'taylor', 'l2']);
    const labelled = 'model: {path: m}\ntask: image-classification\ndata: {dataset: mnist}\nspruft: {importance: {metric: qm-taylor}}\n';
    assert.deepEqual(checkRunConfigText(labelled).diagnostics, []);
  });

  it('checks labels against the dataset', () => {
    const text = 'model: {path: m}\ntask: image-classification\ndata:\n  dataset: fashion-mnist\n  classes: [0, 12]\n  labelNames: [a, b, c]\n';
    const { diagnostics } = checkRunConfigText(text);
    assert.deepEqual(diagnostics.map((d) => d.code), ['out-of-range', 'label-names-count']);
    assert.deepEqual(diagnostics[0]!.range, at(text, '12'));
    assert.equal(diagnostics[1]!.message, '`data.labelNames` has 3 names but there are 2 labels (`data.classes`); give one name per label, in label order.');
  });

  it('offers fixes that make the finding go away', () => {
    const cases: Array<[string, string, string]> = [
      ['unknown-key', VALID.replace('  lr: 2e-5', '  lt: 2e-5'), 'Change to `lr`'],
      ['invalid-value', VALID.replace('backend: wasm', 'backend: wsam'), 'Change to `wasm`'],
      ['type', VALID.replace('lr: 2e-5', 'lr: "2e-5"'), 'Remove the quotes: 2e-5'],
      ['out-of-range', VALID.replace('warmup: 0.03', 'warmup: 0.7'), 'Change to 0.5'],
      ['mutually-exclusive', VALID.replace('  rank: 8\n  importance', '  rank: 8\n  ratio: 0.1\n  importance'), 'Remove `ratio`'],
      ['duplicate-key', VALID.replace('  epochs: 5\n', '  epochs: 5\n  epochs: 3\n'), 'Remove this `epochs`'],
      ['type', VALID.replace('freezeAttention: true', 'freezeAttention: on'), 'Change to `true`'],
      ['unknown-key', VALID.replace('training:\n', 'training:\n  gradient_accumulation_steps: 4\n'), 'Change to `gradAccumulation`'],
    ];
    for (const [code, text, title] of cases) {
      const d = checkRunConfigText(text).diagnostics.find((x) => x.code === code);
      assert.ok(d, `${code} found`);
      const fix = d.fixes?.find((f) => f.title === title);
      assert.ok(fix, `${code} offers "${title}" (has ${JSON.stringify(d.fixes?.map((f) => f.title))})`);
      const fixed = applyFix(text, fix);
      assert.deepEqual(checkRunConfigText(fixed).diagnostics.filter((x) => x.severity === 'error'), [], `after "${title}":\n${fixed}`);
    }
  });

  it('reads JSON files (*.spruft.json) with the same checks', () => {
    const text = '{\n  "model": {"path": "m"},\n  "task": "causal-lm",\n  "data": {"dataset": "text", "path": "c.txt"},\n  "trainig": {}\n}\n';
    const { diagnostics } = checkRunConfigText(text, 'json');
    const d = only(diagnostics, 'unknown-key');
    assert.deepEqual(d.range, at(text, '"trainig"'));
    assert.equal(d.fixes?.[0]?.newText, '"training"');
    const broken = only(checkRunConfigText('{"model": {"path": "m"},\n "task": }', 'json').diagnostics, 'yaml-syntax');
    assert.match(broken.message, /^JSON syntax: Unexpected token/);
    const comma = only(checkRunConfigText('{"model": {"path": "m"},\n}', 'json').diagnostics, 'yaml-syntax');
    assert.deepEqual(comma.range.start, { line: 1, character: 0 });
    assert.equal(comma.message, 'JSON syntax: Expected double-quoted property name.');
  });

  it('reports YAML syntax errors with a hint', () => {
    const text = 'model:\n\tpath: m\n';
    const d = only(checkRunConfigText(text).diagnostics, 'yaml-syntax');
    assert.equal(d.range.start.line, 1);
    assert.match(d.message, /Indent with spaces/);
  });
});

describe('bad input', () => {
  const quick = (label: string, text: string, code: string) => {
    const start = performance.now();
    const { diagnostics } = checkRunConfigText(text);
    const ms = performance.now() - start;
    assert.ok(ms < 1000, `${label}: answered in ${ms.toFixed(0)} ms`);
    assert.equal(diagnostics[0]?.code, code, `${label}: ${JSON.stringify(diagnostics.slice(0, 2))}`);
    assert.ok(diagnostics.length <= MAX_DIAGNOSTICS + 1);
    return diagnostics;
  };

  it('refuses a 5 MB file at once', () => {
    let text = 'model:\n  path: m\n';
    while (text.length < 5 * 1024 * 1024) text += `key${text.length}: some value\n`;
    const d = quick('5 MB', text, 'file-too-large');
    assert.equal(d.length, 1);
    assert.match(d[0]!.message, /This file has 5\.00 MiB/);
  });

  it('refuses binary junk', () => {
    const bytes = new Uint8Array(200_000);
    for (let i = 0; i < bytes.length; i++) bytes[i] = (i * 2654435761) >>> 24;
    const d = quick('binary', Buffer.from(bytes).toString('latin1'), 'not-text');
    assert.equal(d.length, 1);
  });

  it('reads 10,000-deep nesting as one finding', () => {
    quick('flow', '['.repeat(10_000) + ']'.repeat(10_000), 'too-deep');
    quick('flow map', 'model: ' + '{a: '.repeat(10_000) + '1' + '}'.repeat(10_000), 'too-deep');
    quick('block', '- '.repeat(10_000) + 'x\n', 'too-deep');
  });

  it('caps the number of findings', () => {
    const text = Array.from({ length: 1000 }, (_, i) => `unknown${i}: 1`).join('\n');
    const d = checkRunConfigText(text).diagnostics;
    assert.equal(d.length, MAX_DIAGNOSTICS + 1);
    assert.equal(d[MAX_DIAGNOSTICS]!.code, 'too-many-problems');
  });
});

describe('places in the text', () => {
  it('converts offsets and positions both ways', () => {
    const lines = new LineIndex('ab\r\ncd\n\nef');
    assert.deepEqual(lines.positionAt(5), { line: 1, character: 1 });
    assert.equal(lines.offsetAt({ line: 1, character: 1 }), 5);
    assert.equal(lines.offsetAt({ line: 3, character: 9 }), 10);
    assert.equal(lines.lineText(0), 'ab');
    assert.equal(lines.lineCount, 4);
  });

  it('finds the range of a key path, falling back to its section', () => {
    const parsed = parseRunConfig(VALID);
    assert.deepEqual(rangeOfPath(parsed, ['training', 'lr'], 'key'), at(VALID, 'lr'));
    assert.deepEqual(rangeOfPath(parsed, ['training', 'lr'], 'value'), at(VALID, '2e-5'));
    assert.deepEqual(rangeOfPath(parsed, ['targets', 'include', 0], 'value'), at(VALID, '"*.mlp.*"'));
    assert.deepEqual(rangeOfPath(parsed, ['training', 'beta1'], 'value'), at(VALID, 'training'));
  });

  it('tells what the cursor is on', () => {
    const parsed = parseRunConfig(VALID);
    const offset = (needle: string) => VALID.indexOf(needle) + 1;
    assert.deepEqual(locateOffset(parsed, offset('metric'))?.path, ['spruft', 'importance', 'metric']);
    assert.equal(locateOffset(parsed, offset('metric'))?.on, 'key');
    const value = locateOffset(parsed, offset('zo-taylor'));
    assert.deepEqual([value?.path, value?.on], [['spruft', 'importance', 'metric'], 'value']);
    assert.deepEqual(locateOffset(parsed, offset('*.mlp.*'))?.path, ['targets', 'include', 0]);
  });
});

describe('near names', () => {
  it('measures edits with transpositions', () => {
    assert.equal(editDistance('lr', 'rl'), 1);
    assert.equal(editDistance('kitten', 'sitting'), 3);
    assert.equal(editDistance('abc', 'abc'), 0);
  });

  it('finds close names and nothing for short unrelated words', () => {
    assert.deepEqual(nearestNames('lerning', ['lr', 'learning', 'warmup']), ['learning']);
    assert.deepEqual(nearestNames('batch_size', ['evalBatchSize', 'batchSize'], { limit: 1 }), ['batchSize']);
    assert.deepEqual(nearestNames('lr', ['lora', 'name']), []);
    assert.deepEqual(nearestNames('q_prj', ['model.q_proj', 'x'], { maxDistance: Infinity, limit: 1 }), ['model.q_proj']);
  });
});
