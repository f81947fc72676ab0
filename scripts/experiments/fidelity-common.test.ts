import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { it } from 'node:test';
import {
  alternateHalves, type BaseRecord, chosenRate, inPhase, loadRecords, lockedRun, lrText, pairedDifference, type ReportShape, sweepEdge, sweepRates,
} from './fidelity-common';
import { meanInterval, pairedTTest, signFlipTest, studentTQuantile } from './stats';

function record(variant: string, lr: number, seed: number, valAcc: number, testAcc = valAcc, phase = 'sweep'): BaseRecord {
  return {
    dataset: 'd', variant, lr, seed, epochs: 1, phase, phases: [phase], key: `${variant}-${lr}-${seed}-${phase}`, trainableParams: 1, percent: 1,
    val: { loss: 1 - valAcc, accuracy: valAcc },
    test: { loss: 1 - testAcc, accuracy: testAcc, perLabelStats: { min: 0, q1: 0, median: 0, q3: 0, max: 0, mean: 0 } as BaseRecord['test']['perLabelStats'], perLabel: {} },
    steps: 1, trainMs: 1, lossCurve: [1], loadAverage: 0, finishedAt: '2026-01-01T00:00:00Z',
  };
}

it('t quantiles and intervals match tables (df 4: 2.776; df 9: 2.262)', () => {
  assert.ok(Math.abs(studentTQuantile(0.975, 4) - 2.7764) < 1e-3);
  assert.ok(Math.abs(studentTQuantile(0.975, 9) - 2.2622) < 1e-3);
  // 1..5: mean 3, sd sqrt(2.5), half width 2.7764 * sqrt(2.5) / sqrt(5).
  const ci = meanInterval([1, 2, 3, 4, 5]);
  assert.equal(ci.mean, 3);
  assert.ok(Math.abs(ci.high - (3 + 2.7764 * Math.sqrt(0.5))) < 1e-3);
  // Paired t on d = [1, 2, 3, 4, 5]: t = 3 / sqrt(0.5) = 4.243, two-sided p (df 4) = 0.0132.
  const t = pairedTTest([1, 2, 3, 4, 5]);
  assert.ok(Math.abs(t.t - 4.2426) < 1e-3);
  assert.ok(Math.abs(t.p - 0.0132) < 5e-4, String(t.p));
  // All five on one side: 2 of the 32 sign patterns are as extreme.
  assert.equal(signFlipTest([1, 2, 3, 4, 5]), 2 / 32);
  assert.equal(signFlipTest([1, -1]), 1);
});

it('the sweep extends past a winning edge, at most `extensions` times, and says when a rate is at the edge', async () => {
  // Validation accuracy peaks at lr 0.09: the grid [0.001, 0.003, 0.01] goes up twice, then stops at 0.09 (an edge).
  const peak = 0.09;
  const tried: number[] = [];
  const records: BaseRecord[] = [];
  const runAt = async (lr: number) => {
    tried.push(lr);
    const r = record('v', lr, 0, 1 - Math.abs(Math.log(lr / peak)) / 10);
    records.push(r);
    return r;
  };
  assert.equal(await sweepRates([0.001, 0.003, 0.01], runAt, 2), 0.09);
  assert.deepEqual(tried, [0.001, 0.003, 0.01, 0.03, 0.09]);
  assert.equal(chosenRate(records, 'd', 'v'), 0.09);
  assert.equal(sweepEdge(records, 'd', 'v'), 'high');
  // An interior optimum stops at once and is not at an edge.
  const inner: BaseRecord[] = [];
  const lr = await sweepRates([0.01, 0.03, 0.09, 0.27], async (x) => { const r = record('w', x, 0, x === 0.03 ? 0.9 : 0.5); inner.push(r); return r; }, 2);
  assert.equal(lr, 0.03);
  assert.equal(inner.length, 4);
  assert.equal(sweepEdge(inner, 'd', 'w'), undefined);
  // Below the grid.
  const low = [record('u', 0.001, 0, 0.9), record('u', 0.003, 0, 0.8)];
  assert.equal(sweepEdge(low, 'd', 'u'), 'low');
});

it('paired differences pair by seed at each variant\'s chosen rate', () => {
  const shape: ReportShape<BaseRecord> = { variants: ['a', 'b'], label: (v) => v, plain: () => true, epochs: 1 };
  const rs = [
    // a: sweep chooses 0.01 (val 0.9); b: 0.1.
    record('a', 0.01, 0, 0.9, 0.80), record('a', 0.1, 0, 0.5, 0.99), record('b', 0.01, 0, 0.5, 0.99), record('b', 0.1, 0, 0.9, 0.70),
    record('a', 0.01, 1, 0, 0.82, 'seeds'), record('b', 0.1, 1, 0, 0.71, 'seeds'),
    record('a', 0.01, 2, 0, 0.84, 'seeds'), record('b', 0.1, 2, 0, 0.76, 'seeds'),
    // Not paired: seed 3 of a only; a wrong-rate seed of b.
    record('a', 0.01, 3, 0, 0.5, 'seeds'), record('b', 0.01, 3, 0, 0.1, 'seeds'),
  ];
  const p = pairedDifference(rs, 'd', 'a', 'b', shape)!;
  assert.equal(p.n, 3);
  assert.deepEqual(p.perSeed.map((x) => Number(x.toFixed(6))), [10, 11, 8]);
  assert.ok(Math.abs(p.mean - 29 / 3) < 1e-9);
});

it('rates name files exactly, halves alternate, and a locked run is made once', async () => {
  assert.equal(lrText(0.001), '1e-3');
  assert.equal(lrText(0.0003), '3e-4');
  assert.equal(lrText(0.0017), '1.7e-3');
  assert.deepEqual(alternateHalves(5), { val: [0, 2, 4], test: [1, 3] });
  const dir = mkdtempSync(join(tmpdir(), 'fidelity-runs-'));
  try {
    let made = 0;
    const { phases: _, ...made1 } = record('spruft', 1e-3, 0, 0.5);
    const body = async () => { made += 1; return made1; };
    assert.deepEqual((await lockedRun(dir, 'k', 'sweep', body)).phases, ['sweep']);
    // The same run asked for by another phase is not run again; it is recorded as serving both.
    const again = await lockedRun(dir, 'k', 'finer', body);
    assert.equal(made, 1);
    assert.deepEqual(again.phases, ['sweep', 'finer']);
    assert.deepEqual(loadRecords(dir).map((r) => [r.phases, inPhase(r, 'finer'), inPhase(r, 'seeds')]), [[['sweep', 'finer'], true, false]]);
    assert.deepEqual(readdirSync(dir), ['k.json']);
    // A failed run leaves neither a record nor a lock.
    await assert.rejects(lockedRun(dir, 'bad', 'sweep', async () => { throw new Error('boom'); }), /boom/);
    assert.deepEqual(readdirSync(dir), ['k.json']);
    // Files written before `phases` existed read as serving the phase that ran them.
    const { phases: __, ...old } = record('lora', 3e-3, 1, 0.4, 0.4, 'seeds');
    writeFileSync(join(dir, 'old.json'), JSON.stringify(old));
    assert.deepEqual(loadRecords(dir).find((r) => r.variant === 'lora')!.phases, ['seeds']);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
