/**
 * The language server spawned over stdio and spoken to by a real LSP client: diagnostics
 * (range and message of each), completion, hover, quick fixes, symbols, per-document
 * settings, the layer cache, and the same findings from `spruft check`.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Diagnostic, Range } from 'vscode-languageserver-protocol';
import type { ConfigDiagnostic } from '../../protocol/diagnostics';
import { makeFixtureModels } from '../../test/fixtures/models/makeFixtureModels';
import { LspTestClient, positionOf, uriOf } from './testClient';

const ROOT = join(__dirname, '..', '..');

function rangeOf(text: string, context: string, needle = context): Range {
  const start = text.indexOf(context);
  assert.ok(start >= 0, `"${context}" is in the text`);
  const index = text.indexOf(needle, start);
  assert.ok(index >= 0, `"${needle}" follows "${context}"`);
  return { start: positionOf(text, needle, 0, occurrence(text, needle, index)), end: positionOf(text, needle, needle.length, occurrence(text, needle, index)) };
}

function occurrence(text: string, needle: string, index: number): number {
  let n = 0;
  for (let i = text.indexOf(needle); i >= 0 && i <= index; i = text.indexOf(needle, i + 1)) n++;
  return n;
}

/** LSP 3.18 lets a message be markdown; this server sends plain strings. */
function messageOf(d: Diagnostic): string {
  return typeof d.message === 'string' ? d.message : d.message.value;
}

type Expected = { code: string; range: Range; message: string | RegExp; severity?: number };

function assertDiagnostics(actual: Diagnostic[], expected: Expected[]): void {
  const shown = (list: Array<{ code?: unknown; range: Range; message: string | RegExp | Diagnostic['message'] }>) =>
    JSON.stringify(list.map((d) => [d.code, `${d.range.start.line + 1}:${d.range.start.character + 1}`, (typeof d.message === 'object' && 'value' in d.message ? d.message.value : String(d.message)).slice(0, 80)]), null, 1);
  assert.equal(actual.length, expected.length, `expected ${shown(expected)}\nactual ${shown(actual)}`);
  for (const e of expected) {
    const same = (a: Diagnostic) => (typeof e.message === 'string' ? messageOf(a) === e.message : e.message.test(messageOf(a)));
    const d = actual.find((a) => a.code === e.code && a.range.start.line === e.range.start.line && a.range.start.character === e.range.start.character && same(a));
    assert.ok(d, `${e.code} at ${e.range.start.line + 1}:${e.range.start.character + 1} saying ${String(e.message)} in ${shown(actual)}`);
    assert.deepEqual(d.range, e.range, `${e.code} range`);
    if (typeof e.message === 'string') assert.equal(messageOf(d), e.message);
    else assert.match(messageOf(d), e.message);
    if (e.severity !== undefined) assert.equal(d.severity, e.severity, `${e.code} severity`);
    assert.equal(d.source, 'spruft');
  }
}

const ERROR = 1;
const WARNING = 2;
const INFO = 3;

let dir: string;
let client: LspTestClient;
const docs: Record<string, { path: string; text: string }> = {};

function doc(name: string, text: string): { path: string; text: string; uri: string } {
  const path = join(dir, name);
  writeFileSync(path, text);
  docs[name] = { path, text };
  return { path, text, uri: uriOf(path) };
}

const SCHEMA_MISTAKES = [
  'model:',
  '  path: tiny-vit',
  '  formatt: hf',
  'task: image-classification',
  'data:',
  '  dataset: text',
  '  classes: [1]',
  'method: sprut',
  'lr: 0.1',
  'spruft:',
  '  rank: 8',
  '  ratio: 0.1',
  'training:',
  '  learning_rate: 1e-4',
  '  batchSize: "32"',
  '  epochs: 0',
  '  gradAccumulation: 2.5',
  '  warmup: 0.9',
  '  seed: 1',
  '  seed: 2',
  'targets:',
  '  freezeAttention: yes',
  '  include: "*.mlp.*"',
  'output:',
  '  name: my run',
  'backend: gpu',
  '',
].join('\n');

const SEMANTIC_MISTAKES = `# schema-valid, wrong against the files and the model
model:
  path: tiny-llama
task: text-classification
data:
  dataset: jsonl
  path: reviews.jsonl
  evalPath: eval.jsonl
method: spruft
compare: [lora]
spruft:
  rank: 20
  importance:
    metric: taylor
    perturbations: 3
targets:
  include: ["*.mlp.*", "*.attn.*"]
  exclude: [q_proj]
lora:
  rank: 32
training:
  batchSize: 64
`;

const TASK_MISTAKES = `model: {path: tiny-llama}
task: causal-lm
data: {dataset: text, path: corpus.txt}
compare: [spruft]
spruft:
  importance: {metric: qm-taylor}
training: {lr: 0.5}
`;

const CUT_MISTAKE = `model:
  path: tiny-vit
  cutAt: vit.layernorm_x
task: image-classification
data:
  dataset: mnist
method: head
`;

const TAB_MISTAKE = 'model:\n\tpath: tiny-llama\n';

describe('language server over stdio', () => {
  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'spruft-ls-'));
    makeFixtureModels(dir);
    writeFileSync(join(dir, 'reviews.jsonl'), '{"review": "fine", "stars": 4}\n');
    writeFileSync(join(dir, 'evals.jsonl'), '{"text": "ok", "label": 1}\n');
    writeFileSync(join(dir, 'corpus.txt'), 'Some text to learn from.\n');
    client = new LspTestClient();
    await client.initialize();
  });

  after(async () => {
    await client.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('reports schema mistakes, each at its place with what to do', async () => {
    const { uri, text } = doc('schema.spruft.yaml', SCHEMA_MISTAKES);
    const diagnostics = await client.open(uri, text);
    assertDiagnostics(diagnostics, [
      { code: 'unknown-key', range: rangeOf(text, 'formatt'), message: 'Unknown key `formatt` in `model`. Did you mean `format`?', severity: ERROR },
      { code: 'missing-key', range: rangeOf(text, 'data:', 'data'), message: 'Missing `data.path`: the dataset `text` is read from a file or folder that you name. Add `path:` under `data`.' },
      { code: 'dataset-task-mismatch', range: rangeOf(text, 'text'), message: '`data.dataset: text` does not fit `task: image-classification`; that task reads `mnist`, `fashion-mnist`, `idx`, `image-folder`, `csv`, `tsv`, `jsonl` or `parquet`.' },
      { code: 'too-few-items', range: rangeOf(text, '[1]'), message: '`data.classes` needs at least 2 entries (it has 1).' },
      { code: 'invalid-value', range: rangeOf(text, 'sprut'), message: '`method` must be one of `spruft`, `lora`, `full`, `head`, `vera` or `dora`, not `sprut`. Did you mean `spruft`?' },
      { code: 'unknown-key', range: rangeOf(text, 'lr:', 'lr'), message: 'Unknown key `lr` at the top level: it belongs in `training`; move it there.' },
      { code: 'mutually-exclusive', range: rangeOf(text, 'ratio'), message: '`spruft.rank` and `spruft.ratio` exclude each other. Use either `rank` or `ratio`, not both.' },
      { code: 'unknown-key', range: rangeOf(text, 'learning_rate'), message: 'Unknown key `learning_rate` in `training`: it is called `lr` here.' },
      { code: 'type', range: rangeOf(text, '"32"'), message: '`training.batchSize` must be a number, not the string "32": remove the quotes.' },
      { code: 'out-of-range', range: rangeOf(text, 'epochs: 0', '0'), message: '`training.epochs` must be greater than 0 (it is 0).' },
      { code: 'type', range: rangeOf(text, '2.5'), message: '`training.gradAccumulation` must be a whole number, not 2.5.' },
      { code: 'out-of-range', range: rangeOf(text, '0.9'), message: '`training.warmup` must be between 0 and 0.5 (it is 0.9).' },
      { code: 'duplicate-key', range: rangeOf(text, 'seed: 2', 'seed'), message: '`training.seed` is set twice (first on line 19); keep one.' },
      { code: 'type', range: rangeOf(text, 'yes'), message: '`targets.freezeAttention` must be `true` or `false`; YAML 1.2 reads `yes` as a string. Write `true`.' },
      { code: 'type', range: rangeOf(text, '"*.mlp.*"'), message: '`targets.include` must be a list (e.g. `[*]` or `- item` lines), not the string "*.mlp.*".' },
      { code: 'invalid-value', range: rangeOf(text, 'my run'), message: '`output.name`: `my run` is not allowed here. Use only letters, digits, `.`, `_` and `-`.' },
      { code: 'invalid-value', range: rangeOf(text, 'gpu'), message: '`backend` must be one of `auto`, `tensorflow`, `webgpu`, `wasm` or `cpu`, not `gpu`. Did you mean `cpu`?' },
    ]);
  });

  it('reports mistakes against the files and the model, with per-document settings', async () => {
    const name = 'semantic.spruft.yaml';
    const { uri, text } = doc(name, SEMANTIC_MISTAKES);
    client.settings.set(uri, { memoryLimitGb: 0.0001 });
    const diagnostics = await client.open(uri, text);
    assertDiagnostics(diagnostics, [
      { code: 'data-field-missing', range: rangeOf(text, 'reviews.jsonl'), message: 'The first record of `reviews.jsonl` has no field `text` (`data.text.field`); its fields are `review`, `stars`.' },
      { code: 'data-field-missing', range: rangeOf(text, 'reviews.jsonl'), message: 'The first record of `reviews.jsonl` has no field `label` (`data.text.labelField`); its fields are `review`, `stars`.' },
      { code: 'path-not-found', range: rangeOf(text, 'eval.jsonl'), message: `The evaluation data \`eval.jsonl\` does not exist. Did you mean \`evals.jsonl\`? Relative paths start at this file's folder (${dir}).` },
      {
        code: 'rank-exceeds-dout',
        range: rangeOf(text, 'rank: 20', '20'),
        message: '`spruft.rank` 20 is more than the 16 rows (d_out) of `model.layers.0.mlp.down_proj`, `model.layers.1.mlp.down_proj`: a layer has only d_out rows to choose from (paper 4.1). Set `rank` to at most 16, or exclude those layers in `targets.exclude`.',
      },
      { code: 'ignored-option', range: rangeOf(text, 'perturbations'), message: '`spruft.importance.perturbations` has no effect: the metric is `taylor`; it is read by `zo-taylor` only.', severity: WARNING },
      { code: 'target-no-match', range: rangeOf(text, '"*.attn.*"'), message: /^`\*\.attn\.\*` matches no layer of tiny-llama\. Nearest: `\*\.self_attn\.\*`/, severity: ERROR },
      { code: 'target-no-match', range: rangeOf(text, 'q_proj'), message: /^`q_proj` matches no layer of tiny-llama\. Nearest: `\*\.q_proj`/, severity: WARNING },
      { code: 'lora-rank-exceeds', range: rangeOf(text, 'rank: 32', '32'), message: /^`lora\.rank` 32 is more than min\(d_in, d_out\) = 16 of /, severity: WARNING },
      { code: 'memory-estimate', range: rangeOf(text, 'batchSize: 64', '64'), message: /^Estimated training memory for `(spruft|lora)`: .* \(an estimate from layer shapes: .*more than the memory limit set \(105 KiB\)/, severity: WARNING },
    ]);
    // The same text under another name, with the default settings, fits this machine.
    const other = doc('semantic-default.spruft.yaml', SEMANTIC_MISTAKES);
    const withDefaults = await client.open(other.uri, other.text);
    assert.ok(!withDefaults.some((d) => d.code === 'memory-estimate'), 'settings are read per document');
    assert.equal(withDefaults.length, diagnostics.length - 1);
  });

  it('shows the estimated training memory of each method above `method:`', async () => {
    const text = `model:\n  path: tiny-llama\ntask: causal-lm\ndata: {dataset: text, path: corpus.txt}\nmethod: spruft\ncompare: [lora]\nspruft: {rank: 4}\n`;
    const { uri } = doc('lens.spruft.yaml', text);
    await client.open(uri, text);
    const lenses = await client.codeLenses(uri);
    assert.equal(lenses.length, 1);
    assert.equal(lenses[0]!.range.start.line, 4, 'on the method line');
    assert.match(lenses[0]!.command!.title, /^\$\(dashboard\) Estimated training memory: spruft \d+(\.\d+)? (B|KiB|MiB) \([\d.]+k? trainable\) · lora \d+(\.\d+)? (B|KiB|MiB) \([\d.]+k? trainable\)$/);
    // A config whose model cannot be read has no estimate, so no lens.
    const broken = doc('lens-broken.spruft.yaml', text.replace('tiny-llama', 'no-such-model'));
    await client.open(broken.uri, broken.text);
    assert.deepEqual(await client.codeLenses(broken.uri), []);
  });

  it('reports task mismatches, syntax errors and a missing cut layer', async () => {
    const task = doc('task.spruft.yaml', TASK_MISTAKES);
    assertDiagnostics(await client.open(task.uri, task.text), [
      { code: 'redundant-compare', range: rangeOf(task.text, '[spruft]', 'spruft'), message: '`compare` names `spruft`, which is already `method`; it is trained once.', severity: INFO },
      { code: 'metric-needs-labels', range: rangeOf(task.text, 'qm-taylor'), message: '`qm-taylor` scores neurons per class (paper eq. 6-7) and needs a labelled classification task, but `task` is `causal-lm`. Use `taylor`, `zo-taylor` or `l2`.' },
      { code: 'unusual-value', range: rangeOf(task.text, '0.5'), message: '`training.lr` is 0.5, far above fine-tuning rates (paper 5.3: 1e-4 for image models, 2e-5 for SPruFT on Llama); training will likely diverge.', severity: WARNING },
    ]);
    const tab = doc('tab.spruft.yaml', TAB_MISTAKE);
    const tabDiagnostics = await client.open(tab.uri, tab.text);
    const syntax = tabDiagnostics.find((d) => d.code === 'yaml-syntax');
    assert.ok(syntax);
    assert.equal(syntax.range.start.line, 1);
    assert.match(messageOf(syntax), /^YAML syntax: .*Indent with spaces/);
    const cut = doc('cut.spruft.yaml', CUT_MISTAKE);
    assertDiagnostics(await client.open(cut.uri, cut.text), [
      { code: 'cut-at-not-found', range: rangeOf(cut.text, 'vit.layernorm_x'), message: '`vit.layernorm_x` is not a layer of tiny-vit; the nearest names are `vit.layernorm`, `vit.encoder.layer.0.layernorm_after`, `vit.encoder.layer.0.layernorm_before`.' },
    ]);
  });

  it('adds to *.spruft.json what the JSON Schema cannot say, and leaves it the rest', async () => {
    const text = '{\n  "model": {"path": "tiny-lama"},\n  "task": "causal-lm",\n  "data": {"dataset": "text", "path": "corpus.txt"},\n  "trainig": {}\n}\n';
    const { uri } = doc('config.spruft.json', text);
    const diagnostics = await client.open(uri, text, 'json');
    assert.deepEqual(diagnostics.map((d) => d.code), [], 'schema findings are VS Code\'s JSON support\'s; with them the model checks wait');
    const fixed = text.replace(',\n  "trainig": {}', '');
    const semantic = await client.change(uri, fixed);
    assert.deepEqual(semantic.map((d) => [d.code, d.range]), [['path-not-found', rangeOf(fixed, '"tiny-lama"')]]);
    const actions = await client.codeActions(uri, semantic[0]!);
    assert.deepEqual(actions.map((a) => a.edit?.changes?.[uri]?.[0]?.newText), ['"tiny-llama"'], 'the fix keeps the JSON quotes');
  });

  it('gives the same findings as spruft check', () => {
    const cli = (args: string[]) => {
      const r = spawnSync(process.execPath, ['--import', 'tsx', join(ROOT, 'runner/src/cli.ts'), 'check', '--json', ...args], { cwd: ROOT, encoding: 'utf8' });
      assert.equal(r.status, 1, `exit 1 on errors: ${r.stderr}`);
      return JSON.parse(r.stdout) as { files: Array<{ path: string; diagnostics: ConfigDiagnostic[] }> };
    };
    const strip = (list: Array<ConfigDiagnostic | Diagnostic>) =>
      list.map((d) => ({ code: d.code, range: d.range, message: typeof d.message === 'string' ? d.message : d.message.value })).sort((a, b) => JSON.stringify(a).localeCompare(JSON.stringify(b)));
    const names = ['schema.spruft.yaml', 'semantic-default.spruft.yaml', 'task.spruft.yaml', 'tab.spruft.yaml', 'cut.spruft.yaml'];
    const report = cli(names.map((n) => docs[n]!.path));
    const limited = cli(['--memory-limit-gb', '0.0001', docs['semantic.spruft.yaml']!.path]);
    for (const [file, name] of [...report.files.map((f, i) => [f, names[i]!] as const), [limited.files[0]!, 'semantic.spruft.yaml'] as const]) {
      const published = client.lastDiagnostics(uriOf(docs[name]!.path));
      assert.deepEqual(strip(file.diagnostics), strip(published), `${name}: spruft check and the server agree`);
    }
  });

  it('completes keys, values, paths, and layer names and patterns of the model', async () => {
    const text = `model:
  path: tiny-llama
  cutAt: 
task: causal-lm
data:
  dataset: text
  path: corpus.txt
method: 
spruft:
  importance:
    metric: l2
targets:
  include: ["*.m]
  exclude:
    - 
  freezeAttention: 
training:
  lr: 2e-5

`;
    const { uri } = doc('complete.spruft.yaml', text);
    await client.open(uri, text);
    const labels = async (needle: string, delta: number, nth = 1) => (await client.completion(uri, positionOf(text, needle, delta, nth))).map((i) => i.label);

    const root = await labels('\n\n', 1);
    assert.deepEqual(root, ['$schema', 'name', 'compare', 'lora', 'vera', 'head', 'evaluation', 'backend', 'output'], 'top-level keys not yet set, in schema order');

    const training = await client.completion(uri, positionOf(text, '  lr: 2e-5', 2));
    const batch = training.find((i) => i.label === 'batchSize');
    assert.ok(batch, `training keys: ${training.map((i) => i.label)}`);
    assert.equal(batch.textEdit && 'newText' in batch.textEdit ? batch.textEdit.newText : '', 'batchSize: ${1:32}');
    assert.match(String(typeof batch.documentation === 'object' ? batch.documentation.value : ''), /Default: 32/);

    const methods = await client.completion(uri, positionOf(text, 'method: ', 8));
    assert.deepEqual(methods.map((i) => i.label), ['spruft', 'lora', 'full', 'head', 'vera', 'dora']);
    assert.match(String(typeof methods[0]!.documentation === 'object' ? methods[0]!.documentation.value : ''), /paper 4\.1/);

    assert.deepEqual(await labels('freezeAttention: ', 17), ['true', 'false']);
    assert.ok((await labels('metric: l2', 8)).includes('qm-taylor'));

    const patterns = await client.completion(uri, positionOf(text, '["*.m', 5));
    const mlp = patterns.find((i) => i.label === '*.mlp.*');
    assert.ok(mlp, `patterns: ${patterns.map((i) => i.label)}`);
    assert.equal(mlp.detail, 'pattern: 6 layers of tiny-llama');
    assert.deepEqual(mlp.textEdit && 'range' in mlp.textEdit ? [mlp.textEdit.newText, mlp.textEdit.range] : [], ['"*.mlp.*"', rangeOf(text, '"*.m')]);
    assert.ok(patterns.some((i) => i.label === 'model.layers.1.mlp.up_proj'), 'layer names too');
    assert.ok(!patterns.some((i) => i.label === 'model.norm'), 'only layers of the targeted types');

    const exclude = await labels('    - ', 6);
    assert.ok(exclude.includes('lm_head') && exclude.includes('*.self_attn.*'), `list items: ${exclude.slice(0, 8)}`);

    const cut = await labels('cutAt: ', 7);
    assert.ok(cut.includes('model.norm') && cut.includes('model.layers.0.self_attn.q_proj'), 'cutAt offers every layer');

    const paths = await labels('path: corpus.txt', 6);
    assert.ok(paths.includes('tiny-llama/') && paths.includes('corpus.txt'), `paths: ${paths}`);
    const modelPaths = await labels('path: tiny-llama', 6);
    assert.ok(modelPaths.includes('npm:nsfwjs/mobilenet_v2'));
  });

  it('completes layer names and patterns of a shipped model (MobileNetV2 from nsfwjs)', async () => {
    const path = join(ROOT, 'examples', 'image-classification.spruft.yaml');
    const text = readFileSync(path, 'utf8');
    const uri = uriOf(path);
    assert.deepEqual(await client.open(uri, text), [], 'the example passes');
    const include = await client.completion(uri, positionOf(text, '["*_project"', 1));
    const blocks = include.find((i) => i.label === 'block_*_project');
    assert.ok(blocks, `patterns: ${include.slice(0, 10).map((i) => i.label)}`);
    assert.equal(blocks.detail, 'pattern: 16 layers of nsfwjs/mobilenet_v2');
    const layer = include.find((i) => i.label === 'block_16_project');
    assert.ok(layer);
    assert.equal(layer.detail, 'conv2d 320 x 960 (nsfwjs/mobilenet_v2)');
    const cut = (await client.completion(uri, positionOf(text, 'cutAt: out_relu', 7))).map((i) => i.label);
    assert.ok(cut.includes('out_relu') && cut.includes('Conv_1'), 'cutAt offers the layers of the whole model');
    const hover = await client.hover(uri, positionOf(text, '"*_project"', 2));
    assert.ok(hover && typeof hover.contents === 'object' && 'value' in hover.contents);
    assert.match(hover.contents.value, /^`\*_project` matches \*\*17\*\* layers of nsfwjs\/mobilenet_v2/);
  });

  it('shows docs and the layers a pattern matches on hover', async () => {
    const text = `model:\n  path: tiny-llama\ntask: causal-lm\ndata: {dataset: text, path: corpus.txt}\nspruft:\n  importance:\n    metric: zo-taylor\ntargets:\n  include: ["*.mlp.*"]\ntraining:\n  lr: 2e-5\n`;
    const { uri } = doc('hover.spruft.yaml', text);
    await client.open(uri, text);
    const value = async (needle: string, delta = 1) => {
      const hover = await client.hover(uri, positionOf(text, needle, delta));
      assert.ok(hover && typeof hover.contents === 'object' && 'value' in hover.contents, `hover on ${needle}`);
      return hover.contents.value;
    };
    assert.match(await value('lr'), /^\*\*training\.lr\*\* \(number\)\n\nPeak learning rate \(paper 5\.3: .*Default: 1e-4\./);
    assert.match(await value('zo-taylor'), /^`zo-taylor`: Zeroth-order Taylor .*eq\. 8/);
    const pattern = await value('*.mlp.*');
    assert.match(pattern, /^`\*\.mlp\.\*` matches \*\*6\*\* layers of tiny-llama \(6 of the types linear\/conv2d\):/);
    assert.match(pattern, /- `model\.layers\.0\.mlp\.down_proj`: linear, d_out 16 x d_in 40, 640 parameters/);
    assert.match(await value('tiny-llama'), /^\*\*tiny-llama\*\* \(llama, hf\): [\d,]+ parameters, \d+ layers/);
  });

  it('applies quick fixes: an unknown key and an out-of-range rank', async () => {
    const text = `model:\n  path: tiny-llama\ntask: causal-lm\ndata:\n  dataset: text\n  path: corpus.txt\nspruft:\n  rank: 20\ntraining:\n  bachSize: 8\n`;
    const { uri } = doc('fix.spruft.yaml', text);
    const first = await client.open(uri, text);
    const unknown = first.find((d) => d.code === 'unknown-key');
    assert.ok(unknown);
    const actions = await client.codeActions(uri, unknown);
    assert.deepEqual(actions.map((a) => a.title), ['Change to `batchSize`', 'Remove `bachSize`']);
    const edit = actions[0]!.edit!.changes![uri]![0]!;
    const lines = text.split('\n');
    lines[edit.range.start.line] = lines[edit.range.start.line]!.slice(0, edit.range.start.character) + edit.newText + lines[edit.range.start.line]!.slice(edit.range.end.character);
    const fixed = lines.join('\n');
    assert.ok(fixed.includes('  batchSize: 8'));
    const second = await client.change(uri, fixed);
    assert.deepEqual(second.map((d) => d.code), ['rank-exceeds-dout'], 'the model checks run once the schema passes');
    const rank = (await client.codeActions(uri, second[0]!))[0]!;
    assert.equal(rank.title, 'Change rank to 16');
    const rankEdit = rank.edit!.changes![uri]![0]!;
    const l2 = fixed.split('\n');
    l2[rankEdit.range.start.line] = l2[rankEdit.range.start.line]!.slice(0, rankEdit.range.start.character) + rankEdit.newText + l2[rankEdit.range.start.line]!.slice(rankEdit.range.end.character);
    assert.deepEqual(await client.change(uri, l2.join('\n')), []);
  });

  it('lists sections and keys as document symbols', async () => {
    const uri = uriOf(docs['task.spruft.yaml']!.path);
    const symbols = await client.symbols(uri);
    assert.deepEqual(symbols.map((s) => s.name), ['model', 'task', 'data', 'compare', 'spruft', 'training']);
    const spruft = symbols.find((s) => s.name === 'spruft')!;
    assert.deepEqual(spruft.children?.[0]?.children?.map((c) => [c.name, c.detail]), [['metric', 'qm-taylor']]);
    assert.deepEqual(spruft.selectionRange, rangeOf(docs['task.spruft.yaml']!.text, 'spruft:', 'spruft'));
  });

  it('drops a cached layer list when the model changes on disk', async () => {
    const text = `model:\n  path: tiny-llama\ntask: causal-lm\ndata: {dataset: text, path: corpus.txt}\nspruft:\n  rank: 20\n`;
    const { uri } = doc('cache.spruft.yaml', text);
    assert.deepEqual((await client.open(uri, text)).map((d) => d.code), ['rank-exceeds-dout']);
    makeFixtureModels(dir, { llamaHidden: 32 });
    const published = client.diagnostics(uri, 1);
    await client.fileChanged(join(dir, 'tiny-llama', 'model.safetensors'));
    assert.deepEqual((await published).diagnostics, [], 'rows are now 32: rank 20 fits');
    makeFixtureModels(dir);
    assert.ok(client.alive);
  });
});
