/**
 * rowLinear's two ways of computing eq. 5 (tensor/ops/linear.ts), side by side in one
 * process: forward and backward (dW_f and dx) of one layer, median of 5 after a warm-up,
 * for the decoder's and the ViT's layer shapes and 32 to 2048 input rows, with the path
 * rowLinearPath picks. The rule's constant comes from where the two columns cross.
 *
 *   npx tsx scripts/bench-row-linear.ts [--backend wasm] [--rank 32]
 */
import { parseArgs } from 'node:util';
import type { BackendChoice } from '../protocol/results';
import { initBackend } from '../runner/src/engine/backend';
import { rowLinear, rowLinearPath, type RowParams, type RowPath } from '../runner/src/tensor/ops/linear';
import { tf } from '../runner/src/tensor/tf';

const { values } = parseArgs({ options: { backend: { type: 'string', default: 'wasm' }, rank: { type: 'string', default: '32' } } });

function median(xs: number[]): number {
  return xs.slice().sort((a, b) => a - b)[Math.floor(xs.length / 2)];
}

function timeStep(x: tf.Variable, w: tf.Tensor, p: RowParams, path: RowPath): number {
  const once = (): void => tf.tidy(() => {
    const { value, grads } = tf.variableGrads(() => tf.sum(rowLinear(x, w, undefined, p, true, path)) as tf.Scalar, [x, p.wf]);
    tf.stack([value, ...Object.values(grads).map((g) => tf.sum(g))]).dataSync();
  });
  once();
  const times: number[] = [];
  for (let i = 0; i < 5; i++) {
    const t0 = performance.now();
    once();
    times.push(performance.now() - t0);
  }
  return median(times);
}

(async () => {
  const info = await initBackend(values.backend as BackendChoice);
  const r = Number(values.rank);
  console.log(`backend ${info.name}, r = ${r}; forward + backward of one layer, ms (median of 5)`);
  console.log(`${'d_out x d_in'.padEnd(14)}${'N'.padStart(6)}${'merged'.padStart(9)}${'split'.padStart(9)}  picked`);
  for (const [dOut, dIn] of [[1376, 512], [512, 1376], [512, 512], [256, 64], [64, 256]]) {
    const w = tf.randomNormal([dOut, dIn]);
    const rows = Array.from({ length: r }, (_, i) => Math.floor((i * dOut) / r));
    const p: RowParams = { rows: tf.tensor1d(rows, 'int32'), wf: tf.variable(tf.randomNormal([r, dIn], 0, 0.01)) };
    for (const n of [32, 128, 512, 2048]) {
      const x = tf.variable(tf.randomNormal([n, dIn]));
      const merged = timeStep(x, w, p, 'merged');
      const split = timeStep(x, w, p, 'split');
      console.log(`${`${dOut} x ${dIn}`.padEnd(14)}${String(n).padStart(6)}${merged.toFixed(1).padStart(9)}${split.toFixed(1).padStart(9)}  ${rowLinearPath(n, r, dIn, dOut)}`);
      x.dispose();
    }
    tf.dispose([w, p.rows, p.wf]);
  }
})();
