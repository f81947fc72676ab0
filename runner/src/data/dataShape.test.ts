/**
 * `spruft check` and the language server report the data before a run: its shape as an
 * information on `data.path`, what a run would refuse as errors naming file and row (or
 * path), and what `onError: skip` would leave out as one warning.
 */
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { after, describe, it } from 'node:test';
import sharp from 'sharp';
import { loadRunConfig } from '../config/load';

const dir = mkdtempSync(join(tmpdir(), 'spruft-datashape-'));
after(() => rmSync(dir, { recursive: true, force: true }));
const llama = resolve(__dirname, '../../../models/llama-tiny');

async function check(name: string, yaml: string): Promise<Array<{ severity: string; code: string; message: string }>> {
  const path = join(dir, name);
  writeFileSync(path, yaml);
  return (await loadRunConfig(path)).diagnostics.filter((d) => d.code.startsWith('data-')).map(({ severity, code, message }) => ({ severity, code, message }));
}

describe('data shape before a run', () => {
  it('a CSV: examples, classes and balance; a bad label as an error naming file and line; skipped under onError: skip', async () => {
    writeFileSync(join(dir, 'r.csv'), 'review,sentiment\n"good, very",pos\nbad,neg\nok,pos\nmeh,maybe\n');
    const yaml = (onError: string) => `model: { path: ${llama} }\ntask: text-classification\ndata:\n  dataset: csv\n  path: r.csv\n  onError: ${onError}\n  labelNames: [neg, pos]\n  columns: { text: review, label: sentiment }\n`;
    const strict = await check('strict.spruft.yaml', yaml('error'));
    assert.deepEqual(strict.map((d) => [d.severity, d.code]), [['information', 'data-shape'], ['error', 'data-invalid']]);
    assert.equal(strict[0].message, 'r.csv: 3 examples in 2 classes: neg 1 (33%), pos 2 (67%); largest/smallest class 2.0.');
    assert.match(strict[1].message, /r\.csv:5: label "maybe" is not one of the label names \(neg, pos\)$/);
    const lenient = await check('lenient.spruft.yaml', yaml('skip'));
    assert.deepEqual(lenient.map((d) => [d.severity, d.code]), [['information', 'data-shape'], ['warning', 'data-skipped']]);
    assert.match(lenient[1].message, /^1 bad example or class will be skipped \(data\.onError: skip\); first: .*r\.csv:5: label "maybe"/);
    const missing = await check('missing.spruft.yaml', yaml('error').replace('label: sentiment', 'label: stars'));
    assert.deepEqual(missing.map((d) => d.severity), ['error']);
    assert.match(missing[0].message, /no column "stars" \(data\.columns\.label\); the table's columns are review, sentiment/);
  });

  it('a regression (head.problemType: regression): the numeric labels\' range, and a label that is no number as an error naming file and line', async () => {
    writeFileSync(join(dir, 's.tsv'), 'sentence1\tsentence2\tscore\na\tb\t0.4\nc\td\t4.900\ne\tf\tsame\n');
    const found = await check('stsb.spruft.yaml', `model: { path: ${llama} }\ntask: text-classification\nhead: { problemType: regression }\ndata:\n  dataset: tsv\n  path: s.tsv\n  columns: { text: sentence1, textPair: sentence2, label: score }\n`);
    assert.deepEqual(found.map((d) => [d.severity, d.code]), [['information', 'data-shape'], ['error', 'data-invalid']]);
    assert.equal(found[0].message, 's.tsv: 2 examples with numeric labels from 0.4 to 4.9 (mean 2.650).');
    assert.match(found[1].message, /s\.tsv:4: label "same" is not a number/);
  });

  it('a regression head is refused where it cannot be: another task, qm-taylor, class lists (located diagnostics)', async () => {
    const at = async (name: string, yaml: string) => {
      writeFileSync(join(dir, name), yaml);
      return (await loadRunConfig(join(dir, name))).diagnostics.filter((d) => d.code === 'problem-type').map((d) => ({ line: d.range.start.line, message: d.message }));
    };
    const lm = await at('lm.spruft.yaml', `model: { path: ${llama} }\ntask: causal-lm\nhead:\n  problemType: regression\ndata: { dataset: text, path: s.tsv }\n`);
    assert.deepEqual(lm.map((d) => d.line), [3]);
    assert.match(lm[0].message, /needs `task: text-classification`, not `causal-lm`/);
    const qm = await at('qm.spruft.yaml', `model: { path: ${llama} }\ntask: text-classification\nhead: { problemType: regression }\ndata:\n  dataset: tsv\n  path: s.tsv\n  labelNames: [a, b]\n  columns: { text: sentence1, label: score }\nspruft:\n  importance:\n    metric: qm-taylor\n`);
    assert.deepEqual(qm.map((d) => d.line), [6, 10]);
    assert.match(qm[1].message, /qm-taylor scores per class/);
  });

  it('an image folder: an empty class and a stray file are errors naming their paths', async () => {
    const folder = join(dir, 'photos');
    for (const [cls, n] of [['cat', 3], ['dog', 1]] as const) {
      mkdirSync(join(folder, cls), { recursive: true });
      for (let i = 0; i < n; i++) writeFileSync(join(folder, cls, `${i}.png`), await sharp({ create: { width: 4, height: 4, channels: 3, background: '#808080' } }).png().toBuffer());
    }
    mkdirSync(join(folder, 'fox'));
    writeFileSync(join(folder, 'dog', 'readme.md'), 'notes');
    const found = await check('folder.spruft.yaml', `model: { path: npm:nsfwjs/mobilenet_v2, cutAt: out_relu }\ntask: image-classification\ndata: { dataset: image-folder, path: photos }\n`);
    assert.deepEqual(found.map((d) => [d.severity, d.code]), [['information', 'data-shape'], ['error', 'data-invalid'], ['error', 'data-invalid']]);
    assert.equal(found[0].message, 'photos: 4 images in 2 classes: cat 3 (75%), dog 1 (25%); largest/smallest class 3.0.');
    assert.match(found[1].message, /photos\/dog\/readme\.md: not an image file/);
    assert.match(found[2].message, /photos\/fox: class "fox" has no image/);
  });
});
