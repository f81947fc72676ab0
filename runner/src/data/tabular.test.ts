import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { parquetWriteFile } from 'hyparquet-writer';
import { SpruftError } from '../errors';
import { DataIssues, classBalance, readLabelledTable, readTableRows, tableColumns } from './tabular';

const dir = mkdtempSync(join(tmpdir(), 'spruft-tabular-'));
after(() => rmSync(dir, { recursive: true, force: true }));

function file(name: string, text: string): string {
  const path = join(dir, name);
  writeFileSync(path, text);
  return path;
}

async function rejectsWith(p: Promise<unknown>, where: RegExp, message: RegExp): Promise<void> {
  await assert.rejects(p, (err: unknown) => {
    assert.ok(err instanceof SpruftError, String(err));
    assert.equal(err.code, 'DATA_INVALID');
    assert.match(err.where ?? '', where);
    assert.match(err.message, message);
    return true;
  });
}

describe('CSV and TSV', () => {
  it('reads quoted commas, quoted quotes and quoted line breaks; labels named in sorted order', async () => {
    const path = file('reviews.csv', 'id,review,label\n1,"Good, really good",pos\n2,"He said ""meh""",neg\n3,"two\nlines",pos\n');
    const t = await readLabelledTable(path, { columns: { text: 'review', label: 'label' }, needs: ['text'] });
    assert.deepEqual(t.texts, ['Good, really good', 'He said "meh"', 'two\nlines']);
    assert.deepEqual(t.labelNames, ['neg', 'pos']);
    assert.deepEqual([...t.labels], [1, 0, 1]);
    assert.deepEqual(t.where, [`${path}:2`, `${path}:3`, `${path}:5`], 'rows are named by the line they end on');
    assert.deepEqual(classBalance(t.labels, t.labelNames), [{ label: 'neg', count: 1 }, { label: 'pos', count: 2 }]);
  });

  it('TSV as GLUE writes it: quotes are text, integer labels index data.labelNames, a text pair', async () => {
    const path = file('mrpc.tsv', 'Quality\t#1 String\t#2 String\n1\tHe said "yes\tShe agreed\n0\tA cat\tA "dog"\n');
    const t = await readLabelledTable(path, { columns: { text: '#1 String', textPair: '#2 String', label: 'Quality' }, needs: ['text', 'textPair'], labelNames: ['different', 'equivalent'] });
    assert.deepEqual(t.texts, ['He said "yes', 'A cat']);
    assert.deepEqual(t.textPairs, ['She agreed', 'A "dog"']);
    assert.deepEqual([...t.labels], [1, 0]);
  });

  it('a missing column is one error naming the file and the columns it has', async () => {
    const path = file('nolabel.csv', 'text,category\nhello,a\n');
    await rejectsWith(readLabelledTable(path, { columns: { text: 'text', label: 'label' }, needs: ['text'] }), /nolabel\.csv$/, /no column "label" \(data\.columns\.label\); the table's columns are text, category/);
  });

  it('a label outside data.labelNames names file and row; under skip the row is left out and counted', async () => {
    const path = file('badlabel.csv', 'text,label\na,cat\nb,dog\nc,bird\nd,cat\n');
    const o = { columns: { text: 'text', label: 'label' }, needs: ['text' as const], labelNames: ['cat', 'dog'] };
    await rejectsWith(readLabelledTable(path, o), /badlabel\.csv:4$/, /label "bird" is not one of the label names \(cat, dog\)/);
    const t = await readLabelledTable(path, { ...o, onError: 'skip' });
    assert.deepEqual(t.texts, ['a', 'b', 'd']);
    assert.equal(t.issues.items.length, 1);
    assert.match(t.issues.summary('row'), /^skipped 1 row with bad data \(first: .*badlabel\.csv:4: label "bird"/);
  });

  it('an empty cell and a short row name their line', async () => {
    const empty = file('empty.csv', 'text,label\na,x\n,y\n');
    const e = await readLabelledTable(empty, { columns: { text: 'text', label: 'label' }, needs: ['text'] });
    assert.deepEqual(e.texts, ['a', ''], 'an empty string is a text (CSV cannot tell it from a missing one)');
    const short = file('short.csv', 'text,label\na,x\nb\n');
    await rejectsWith(readLabelledTable(short, { columns: { text: 'text', label: 'label' }, needs: ['text'] }), /short\.csv:3$/, /different number of cells/);
    const noLabel = file('nolabelcell.csv', 'text,label\na,x\nb,\n');
    await rejectsWith(readLabelledTable(noLabel, { columns: { text: 'text', label: 'label' }, needs: ['text'] }), /nolabelcell\.csv:3$/, /neither a name nor a non-negative integer/);
  });
});

describe('JSONL', () => {
  it('dotted column paths, integer labels, a broken line named', async () => {
    const path = file('pairs.jsonl', '{"input":{"a":"x","b":"y"},"label":2}\n\n{"input":{"a":"p","b":"q"},"label":0}\n');
    const t = await readLabelledTable(path, { columns: { text: 'input.a', textPair: 'input.b', label: 'label' }, needs: ['text', 'textPair'] });
    assert.deepEqual(t.texts, ['x', 'p']);
    assert.deepEqual(t.textPairs, ['y', 'q']);
    assert.deepEqual(t.labelNames, ['0', '1', '2']);
    assert.deepEqual(t.where.map((w) => w.split(':').pop()), ['1', '3']);
    const broken = file('broken.jsonl', '{"text":"a","label":0}\n{"text": "b", "label": \n');
    await rejectsWith(readLabelledTable(broken, { columns: { text: 'text', label: 'label' }, needs: ['text'] }), /broken\.jsonl:2$/, /not valid JSON/);
    const missing = file('missing.jsonl', '{"text":"a","label":0}\n{"label":1}\n');
    await rejectsWith(readLabelledTable(missing, { columns: { text: 'text', label: 'label' }, needs: ['text'] }), /missing\.jsonl:2$/, /no value in column "text"/);
  });
});

describe('Parquet', () => {
  it('round trip: what hyparquet-writer writes (3 row groups) reads back row for row, bytes stay bytes', async () => {
    const path = join(dir, 'train.parquet');
    const n = 25;
    const texts = Array.from({ length: n }, (_, i) => `review ${i}, with "quotes" and ünïcödé`);
    const labels = Array.from({ length: n }, (_, i) => (i * 7) % 3);
    const blobs = Array.from({ length: n }, (_, i) => Uint8Array.from({ length: 5 + i }, (_, k) => (i * 31 + k * 17) & 255));
    parquetWriteFile({
      filename: path, rowGroupSize: 10,
      columnData: [
        { name: 'sentence', data: texts, type: 'STRING' },
        { name: 'label', data: Int32Array.from(labels), type: 'INT32' },
        { name: 'image', data: blobs, type: 'BYTE_ARRAY' },
      ],
    });
    assert.deepEqual(await tableColumns(path, 'parquet'), ['sentence', 'label', 'image']);
    let rows = 0;
    for await (const r of readTableRows(path, 'parquet', new DataIssues('error'))) {
      assert.equal(r.values.sentence, texts[rows]);
      rows += 1;
      assert.equal(r.row, rows);
    }
    assert.equal(rows, n);
    const t = await readLabelledTable(path, { columns: { text: 'sentence', label: 'label', image: 'image' }, needs: ['text', 'image'], labelNames: ['neg', 'neutral', 'pos'] });
    assert.deepEqual(t.texts, texts);
    assert.deepEqual([...t.labels], labels);
    assert.equal(t.images!.length, n);
    t.images!.forEach((ref, i) => {
      assert.ok('bytes' in ref, 'an un-annotated byte array is image bytes');
      assert.deepEqual([...ref.bytes], [...blobs[i]]);
    });
    await rejectsWith(readLabelledTable(path, { columns: { text: 'text', label: 'label' }, needs: ['text'] }), /train\.parquet$/, /no column "text".*sentence, label, image/);
  });

  it('a file that is not Parquet is named', async () => {
    const path = file('fake.parquet', 'text,label\n');
    await rejectsWith(tableColumns(path, 'parquet'), /fake\.parquet$/, /not a readable Parquet file/);
  });
});
