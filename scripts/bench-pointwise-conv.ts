/**
 * The gradients of a 1x1 conv at stride 1, side by side in one process: the backend's
 * conv gradient kernels (on wasm, the project's registered kernels) against one matrix
 * product each, as tensor/ops/conv2d.ts runs them, for MobileNetV2's expand and project
 * shapes at 64 px and batch 32 (best of 5 after a warm-up, ms).
 *
 *   npx tsx scripts/bench-pointwise-conv.ts [--backend wasm]
 */
import { parseArgs } from 'node:util';
import type { BackendChoice } from '../protocol/results';
import { initBackend } from '../runner/src/engine/backend';
import { conv2dBackpropFilter, conv2dBackpropInput } from '../runner/src/tensor/ops/conv2d';
import { tf } from '../runner/src/tensor/tf';

const { values } = parseArgs({ options: { backend: { type: 'string', default: 'wasm' } } });

function best(f: () => tf.Tensor): number {
  const once = (): void => tf.tidy(() => { f().dataSync(); });
  once();
  let ms = Infinity;
  for (let i = 0; i < 5; i++) {
    const t0 = performance.now();
    once();
    ms = Math.min(ms, performance.now() - t0);
  }
  return ms;
}

(async () => {
  const info = await initBackend(values.backend as BackendChoice);
  const spec = { strides: [1, 1] as [number, number], pad: 'same' as const };
  const attrs = { strides: [1, 1], pad: 'same', dataFormat: 'NHWC' };
  console.log(`backend ${info.name}; ms, best of 5`);
  console.log(`${'x -> channels'.padEnd(26)}${'dx kernel'.padStart(11)}${'dx matmul'.padStart(11)}${'dW kernel'.padStart(11)}${'dW matmul'.padStart(11)}`);
  for (const [b, h, ci, co] of [[32, 32, 16, 96], [32, 16, 144, 24], [32, 8, 192, 64], [32, 4, 576, 160], [32, 2, 320, 1280]]) {
    const x = tf.randomNormal([b, h, h, ci]);
    const dy = tf.randomNormal([b, h, h, co]);
    const w = tf.randomNormal([1, 1, ci, co]);
    const dxKernel = best(() => tf.engine().runKernel('Conv2DBackpropInput', { dy, filter: w }, { ...attrs, inputShape: x.shape } as unknown as tf.NamedAttrMap) as tf.Tensor);
    const dxMatmul = best(() => conv2dBackpropInput(x.shape, dy, w, spec));
    const dwKernel = best(() => tf.engine().runKernel('Conv2DBackpropFilter', { x, dy }, { ...attrs, filterShape: w.shape } as unknown as tf.NamedAttrMap) as tf.Tensor);
    const dwMatmul = best(() => conv2dBackpropFilter(x, dy, w.shape, spec));
    console.log(`${`${b}x${h}x${h}x${ci} -> ${co}`.padEnd(26)}${[dxKernel, dxMatmul, dwKernel, dwMatmul].map((t) => t.toFixed(1).padStart(11)).join('')}`);
    tf.dispose([x, dy, w]);
  }
})();
