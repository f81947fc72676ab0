import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import type { ImageExamples } from '../batches';
import { assertClose, finiteDifferences, useBackend } from '../../tensor/ops/testing';
import { Rng } from '../../tensor/rng';
import { tf } from '../../tensor/tf';
import { taylorImportance } from './taylor';
import {
  CONV_NET, convNet64, convNetFrom, crossEntropy64, importanceContext, mlp64, mlpFrom, runConfig, type ConvNetWeights, type MlpWeights,
} from './testing';

function images(rng: Rng, n: number, shape: [number, number, number], labels: number): ImageExamples {
  const per = shape[0] * shape[1] * shape[2];
  return {
    kind: 'images', n, shape, inputs: rng.fillNormal(new Float32Array(n * per)),
    labels: Int32Array.from({ length: n }, (_, i) => i % labels),
  };
}

/** sum over a row (or column) of |g w|, for weights laid out with `rows` as the fastest or slowest axis. */
function saliencySums(g: Float64Array, w: Float32Array | Float64Array, count: number, indexOf: (i: number) => number): Float64Array {
  const out = new Float64Array(count);
  for (let i = 0; i < g.length; i++) out[indexOf(i)] += Math.abs(g[i] * w[i]);
  return out;
}

describe('taylor importance against float64 finite differences', () => {
  before(() => useBackend('wasm'));

  it('MLP: rows and dependent columns equal sum |mean dL/dw * w|, the mean over all calibration examples (batches of 8, 8, 4)', async () => {
    const rng = new Rng(101);
    const sizes = [9, 6, 5, 3];
    const weights: MlpWeights = {
      sizes,
      w: sizes.slice(0, -1).map((d, i) => rng.fillNormal(new Float32Array(d * sizes[i + 1]), 0.6)),
      b: sizes.slice(1).map((d) => rng.fillNormal(new Float32Array(d), 0.2)),
    };
    const model = mlpFrom(weights, 3);
    const data = images(rng, 20, [3, 3, 1], 3);
    const config = runConfig({ targets: { layerTypes: ['linear'] }, spruft: { importance: { metric: 'taylor', calibrationBatches: 8 } }, training: { batchSize: 8 } });
    const before = tf.memory().numTensors;
    const ctx = importanceContext(model, config, data);
    ctx.columnLayers = [ctx.layers[1]];
    const scores = await taylorImportance(ctx);
    assert.equal(tf.memory().numTensors, before, 'taylor leaked tensors');

    const w64 = weights.w.map((w) => Float64Array.from(w));
    const b64 = weights.b.map((b) => Float64Array.from(b));
    const x64 = Float64Array.from(data.inputs);
    for (const l of [0, 1]) {
      const fd = finiteDifferences(w64[l], (q) => {
        const ws: Float64Array[] = w64.slice();
        ws[l] = q;
        return crossEntropy64(mlp64(ws, b64, sizes, x64, data.n), data.labels, 3);
      });
      const dIn = sizes[l];
      const rows = saliencySums(fd, w64[l], sizes[l + 1], (i) => Math.floor(i / dIn));
      assertClose(scores.rows.get(`mlp.layers.${l}`)!, rows, 1e-3, `layer ${l} rows`);
      if (l === 1) assertClose(scores.columns.get('mlp.layers.1')!, saliencySums(fd, w64[l], dIn, (i) => i % dIn), 1e-3, 'layer 1 columns');
    }
    model.dispose();
  });

  it('conv, depthwise and batch-norm rows, conv input columns: a MobileNetV2-like block', async () => {
    const rng = new Rng(102);
    const { inputChannels: ci, stem, expand, labels } = CONV_NET;
    const bnParams = (c: number) => ({
      gamma: rng.fillUniform(new Float32Array(c), 0.5, 1.5), beta: rng.fillNormal(new Float32Array(c), 0.1),
      mean: rng.fillNormal(new Float32Array(c), 0.1), variance: rng.fillUniform(new Float32Array(c), 0.5, 1.5),
    });
    const w: ConvNetWeights = {
      stem: rng.fillNormal(new Float32Array(9 * ci * stem), 0.4),
      expand: rng.fillNormal(new Float32Array(stem * expand), 0.5),
      depthwise: rng.fillNormal(new Float32Array(9 * expand), 0.4),
      project: rng.fillNormal(new Float32Array(expand * stem), 0.5),
      dense: rng.fillNormal(new Float32Array(stem * labels), 0.8),
      denseBias: rng.fillNormal(new Float32Array(labels), 0.1),
      bn: { stem_bn: bnParams(stem), expand_bn: bnParams(expand), dw_bn: bnParams(expand), project_bn: bnParams(stem) },
    };
    const model = convNetFrom(w);
    const data = images(rng, 10, [CONV_NET.size, CONV_NET.size, ci], labels);
    const config = runConfig({ targets: { layerTypes: ['conv2d', 'norm'] }, spruft: { importance: { metric: 'taylor' } }, training: { batchSize: 4 } });
    const ctx = importanceContext(model, config, data);
    const byName = new Map(ctx.layers.map((l) => [l.name, l]));
    ctx.columnLayers = [byName.get('expand')!, byName.get('project')!];
    const before = tf.memory().numTensors;
    const scores = await taylorImportance(ctx);
    assert.equal(tf.memory().numTensors, before, 'taylor leaked tensors');

    const w64: Record<string, Float64Array> = {
      'stem/kernel': Float64Array.from(w.stem), 'expand/kernel': Float64Array.from(w.expand), 'dw/depthwise_kernel': Float64Array.from(w.depthwise),
      'project/kernel': Float64Array.from(w.project), 'dense/kernel': Float64Array.from(w.dense), 'dense/bias': Float64Array.from(w.denseBias),
    };
    for (const [name, p] of Object.entries(w.bn)) {
      w64[`${name}/gamma`] = Float64Array.from(p.gamma);
      w64[`${name}/beta`] = Float64Array.from(p.beta);
      w64[`${name}/moving_mean`] = Float64Array.from(p.mean);
      w64[`${name}/moving_variance`] = Float64Array.from(p.variance);
    }
    const x64 = Float64Array.from(data.inputs);
    const gradOf = (key: string) => finiteDifferences(w64[key], (q) => crossEntropy64(convNet64({ ...w64, [key]: q }, x64, data.n), data.labels, labels));
    // Conv [kh, kw, c_in, c_out]: output channel = i % c_out, input channel = floor(i / c_out) % c_in.
    const cases: Array<{ layer: string; key: string; count: number; row: (i: number) => number; cols?: { count: number; col: (i: number) => number } }> = [
      { layer: 'stem', key: 'stem/kernel', count: stem, row: (i) => i % stem },
      { layer: 'expand', key: 'expand/kernel', count: expand, row: (i) => i % expand, cols: { count: stem, col: (i) => Math.floor(i / expand) % stem } },
      { layer: 'dw', key: 'dw/depthwise_kernel', count: expand, row: (i) => i % expand },
      { layer: 'project', key: 'project/kernel', count: stem, row: (i) => i % stem, cols: { count: expand, col: (i) => Math.floor(i / stem) % expand } },
      ...(['stem_bn', 'expand_bn', 'dw_bn', 'project_bn'] as const).map((n) => ({ layer: n, key: `${n}/gamma`, count: w.bn[n].gamma.length, row: (i: number) => i })),
    ];
    for (const c of cases) {
      const g = gradOf(c.key);
      assertClose(scores.rows.get(c.layer)!, saliencySums(g, w64[c.key], c.count, c.row), 2e-3, `${c.layer} rows`);
      if (c.cols) assertClose(scores.columns.get(c.layer)!, saliencySums(g, w64[c.key], c.cols.count, c.cols.col), 2e-3, `${c.layer} columns`);
    }
    model.dispose();
  });
});
