/**
 * Builtin vs project kernel times, side by side, on wasm and cpu:
 *
 *   npx tsx runner/src/kernels/kernelBench.ts [--backend wasm|cpu] [--kernel Name] [--quick] [--reps N]
 *
 * Each kernel function is called directly on its backend with inputs written once
 * (no engine, no tape), outputs released after each call. Builtin and project calls
 * alternate and the best of N is reported, so that other work on the machine skews the
 * two alike; a builtin that takes over a second is timed once. `--quick` uses batch 8
 * instead of 32 (the full cpu run takes a few minutes, mostly cpu's builtin kernels).
 * These are measurements, not tests.
 */
import { tf } from '../tensor/tf';
import type { BackendKind } from './backendMemory';
import { batchMatMulKernel, fusedMatMulKernel } from './batchMatMul';
import { conv2dBackpropFilterKernel } from './conv2dBackpropFilter';
import { conv2dBackpropInputKernel } from './conv2dBackpropInput';
import { depthwiseBackpropFilterKernel, depthwiseBackpropInputKernel } from './depthwiseConv2dBackprop';
import { gatherV2Kernel } from './gatherV2';
import { backendInstance, intTensor, randomTensor, startBackends, type HostTensor } from './kernelTesting';
import { builtinKernel } from './registry';
import { transposeKernel } from './transpose';
import { unsortedSegmentSumKernel } from './unsortedSegmentSum';

interface BenchCase {
  kernel: string;
  label: string;
  inputs: Record<string, HostTensor>;
  attrs: object;
  project: tf.KernelFunc;
}

function conv(x: number[], f: number[], s: number, pad: 'same' | 'valid', depthwise = false) {
  const info = tf.backend_util.computeConv2DInfo(x as [number, number, number, number], f as [number, number, number, number], s, 1, pad, undefined, depthwise);
  return { x: randomTensor(x, 1), w: randomTensor(f, 2), dy: randomTensor(info.outShape as number[], 3) };
}

function convCases(x: number[], f: number[], s: number, pad: 'same' | 'valid'): BenchCase[] {
  const d = conv(x, f, s, pad);
  const label = `x[${x}] f[${f}] s${s} ${pad}`;
  return [
    { kernel: 'Conv2DBackpropFilter', label, inputs: { x: d.x, dy: d.dy }, attrs: { strides: s, pad, dataFormat: 'NHWC', filterShape: f }, project: conv2dBackpropFilterKernel },
    { kernel: 'Conv2DBackpropInput', label, inputs: { dy: d.dy, filter: d.w }, attrs: { strides: s, pad, dataFormat: 'NHWC', inputShape: x }, project: conv2dBackpropInputKernel },
  ];
}

function depthwiseCases(x: number[], f: number[], s: number): BenchCase[] {
  const d = conv(x, f, s, 'same', true);
  const label = `x[${x}] f[${f}] s${s} same`;
  return [
    { kernel: 'DepthwiseConv2dNativeBackpropFilter', label, inputs: { x: d.x, dy: d.dy }, attrs: { strides: s, pad: 'same', dilations: 1, filterShape: f }, project: depthwiseBackpropFilterKernel },
    { kernel: 'DepthwiseConv2dNativeBackpropInput', label, inputs: { dy: d.dy, filter: d.w }, attrs: { strides: s, pad: 'same', dilations: 1, inputShape: x }, project: depthwiseBackpropInputKernel },
  ];
}

function matMulCase(sa: number[], sb: number[], ta: boolean, tb: boolean, note: string): BenchCase {
  return {
    kernel: 'BatchMatMul', label: `[${sa}]${ta ? 'T' : ''} x [${sb}]${tb ? 'T' : ''} (${note})`,
    inputs: { a: randomTensor(sa, 1), b: randomTensor(sb, 2) }, attrs: { transposeA: ta, transposeB: tb }, project: batchMatMulKernel,
  };
}

/** tf.fused.matMul's kernel; the builtin's bias is wrong on these (see batchMatMul.ts). */
function fusedCase(sa: number[], sb: number[], ta: boolean, tb: boolean, note: string): BenchCase {
  const n = tb ? sb[1] : sb[2];
  return {
    kernel: '_FusedMatMul', label: `[${sa}]${ta ? 'T' : ''} x [${sb}]${tb ? 'T' : ''} (${note})`,
    inputs: { a: randomTensor(sa, 1), b: randomTensor(sb, 2), bias: randomTensor([n], 3) },
    attrs: { transposeA: ta, transposeB: tb, activation: note.includes('relu') ? 'relu' : 'linear' }, project: fusedMatMulKernel,
  };
}

function indices(n: number, range: number): HostTensor {
  return intTensor([n], Array.from({ length: n }, (_, i) => (i * 7919) % range));
}

function casesFor(backend: BackendKind, quick: boolean): BenchCase[] {
  const cases: BenchCase[] = [
    { kernel: 'Transpose', label: '[4096,512] perm [1,0]', inputs: { x: randomTensor([4096, 512], 1) }, attrs: { perm: [1, 0] }, project: transposeKernel },
    { kernel: 'Transpose', label: '[1000,768] perm [1,0]', inputs: { x: randomTensor([1000, 768], 1) }, attrs: { perm: [1, 0] }, project: transposeKernel },
    { kernel: 'Transpose', label: '[32,128,64] perm [0,2,1]', inputs: { x: randomTensor([32, 128, 64], 1) }, attrs: { perm: [0, 2, 1] }, project: transposeKernel },
    { kernel: 'Transpose', label: '[32,32,32,16] perm [3,1,2,0]', inputs: { x: randomTensor([32, 32, 32, 16], 1) }, attrs: { perm: [3, 1, 2, 0] }, project: transposeKernel },
    { kernel: 'GatherV2', label: '64 columns of [4096,512]', inputs: { x: randomTensor([4096, 512], 1), indices: indices(64, 512) }, attrs: { axis: 1, batchDims: 0 }, project: gatherV2Kernel },
    { kernel: 'GatherV2', label: '64 rows of [512,512]', inputs: { x: randomTensor([512, 512], 1), indices: indices(64, 512) }, attrs: { axis: 0, batchDims: 0 }, project: gatherV2Kernel },
    { kernel: 'GatherV2', label: '512 rows of [8000,256]', inputs: { x: randomTensor([8000, 256], 1), indices: indices(512, 8000) }, attrs: { axis: 0, batchDims: 0 }, project: gatherV2Kernel },
  ];
  // The cpu builtin is O(segments x size): 35 s at 1000 segments.
  const segs = backend === 'cpu' ? (quick ? 50 : 200) : 1000;
  cases.push({
    kernel: 'UnsortedSegmentSum', label: `[512,256] -> ${segs} segments`,
    inputs: { x: randomTensor([512, 256], 1), segmentIds: indices(512, segs) }, attrs: { numSegments: segs }, project: unsortedSegmentSumKernel,
  });
  const b = quick ? 8 : 32;
  // cpu keeps its builtin Conv2DBackpropInput (as fast as cpu's conv2d); only dW is listed there.
  const convs = (x: number[], f: number[], s: number) => convCases(x, f, s, 'same').filter((c) => backend === 'wasm' || c.kernel === 'Conv2DBackpropFilter');
  cases.push(
    ...convs([b, 32, 32, 16], [3, 3, 16, 16], 1),
    ...convs([b, 32, 32, 16], [3, 3, 16, 32], 2),
    ...convs([b, 16, 16, 64], [1, 1, 64, 128], 2),
    ...convs([backend === 'cpu' ? Math.min(b, 8) : b, 16, 16, 64], [3, 3, 64, 64], 1),
    ...convs([b, 32, 32, 3], [3, 3, 3, 32], 1),
    ...depthwiseCases([b, 16, 16, 96], [3, 3, 96, 1], 1),
    ...depthwiseCases([b, 16, 16, 96], [3, 3, 96, 1], 2),
    ...depthwiseCases([b, 32, 32, 32], [3, 3, 32, 1], 1),
  );
  if (backend === 'wasm') {
    cases.push(
      matMulCase([4096, 512], [4096, 512], true, false, 'dW = x^T dy'),
      matMulCase([4096, 64], [4096, 512], true, false, 'dW, 64 rows'),
      matMulCase([4096, 16], [4096, 768], true, false, 'row adapter dW_f, r=16'),
      matMulCase([4096, 512], [512, 512], false, true, 'dx = dy W^T'),
      matMulCase([4096, 768], [16, 768], false, true, 'row adapter forward, r=16'),
      matMulCase([512, 4096], [512, 4096], false, true, ''),
      matMulCase([32, 128, 64], [32, 64, 128], false, false, 'attention'),
      matMulCase([32, 128, 64], [32, 128, 64], false, true, 'Q K^T'),
      matMulCase([32, 128, 128], [32, 128, 64], true, false, 'attention grad'),
      matMulCase([8, 128, 512], [512, 512], false, false, 'batch x weight'),
      matMulCase([64, 16, 16], [64, 16, 16], false, true, 'small: builtin'),
      matMulCase([512, 4096], [4096, 512], false, false, 'plain 2-d: builtin'),
      fusedCase([1, 1024, 512], [1, 512, 512], false, true, 'bias + relu'),
      fusedCase([1, 4096, 768], [1, 16, 768], false, true, 'bias, row adapter r=16'),
      fusedCase([8, 128, 512], [8, 512, 512], false, false, 'batched, bias + relu'),
    );
  }
  return cases;
}

/** Best time of `reps` calls of each, alternating. */
function timePair(backend: BackendKind, c: BenchCase, builtin: tf.KernelFunc | undefined, reps: number): [number | undefined, number] {
  const be = backendInstance(backend);
  const infos: Record<string, tf.TensorInfo> = {};
  for (const [k, t] of Object.entries(c.inputs)) infos[k] = { dataId: be.write(t.values, t.shape, t.dtype), shape: t.shape, dtype: t.dtype };
  const once = (f: tf.KernelFunc): number => {
    const t0 = performance.now();
    const out = f({ inputs: infos, backend: be, attrs: c.attrs as tf.NamedAttrMap });
    const ms = performance.now() - t0;
    for (const o of Array.isArray(out) ? out : [out]) be.disposeData(o.dataId);
    return ms;
  };
  let bestBuiltin: number | undefined;
  let bestProject = Infinity;
  try {
    for (let r = 0; r < reps; r++) {
      // A builtin that takes over a second is timed once.
      if (builtin != null && (bestBuiltin == null || bestBuiltin < 1000)) bestBuiltin = Math.min(bestBuiltin ?? Infinity, once(builtin));
      bestProject = Math.min(bestProject, once(c.project));
    }
  } finally {
    for (const info of Object.values(infos)) be.disposeData(info.dataId);
  }
  return [bestBuiltin, bestProject];
}

function fmt(ms: number | undefined): string {
  if (ms == null) return 'missing';
  return ms >= 100 ? ms.toFixed(0) : ms >= 10 ? ms.toFixed(1) : ms.toFixed(2);
}

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  const only = args.includes('--backend') ? args[args.indexOf('--backend') + 1] : undefined;
  const kernel = args.includes('--kernel') ? args[args.indexOf('--kernel') + 1] : undefined;
  const quick = args.includes('--quick');
  const reps = args.includes('--reps') ? Number(args[args.indexOf('--reps') + 1]) : 5;
  await startBackends();
  const backends = (['wasm', 'cpu'] as BackendKind[]).filter((b) => only == null || b === only);
  console.log(`kernel benchmark: tfjs ${tf.version_core}, node ${process.version}, wasm SIMD ${tf.env().getBool('WASM_HAS_SIMD_SUPPORT')}, one thread; best of ${reps} (slow builtins: fewer)`);
  console.log('| backend | kernel | case | builtin ms | project ms | speedup |');
  console.log('|---|---|---|---:|---:|---:|');
  for (const backend of backends) {
    for (const c of casesFor(backend, quick).filter((k) => kernel == null || k.kernel === kernel)) {
      const builtin = builtinKernel(c.kernel, backend)?.kernelFunc;
      const [b, p] = timePair(backend, c, builtin, reps);
      const speedup = b != null ? `${(b / p).toFixed(1)}x` : 'new';
      console.log(`| ${backend} | ${c.kernel} | ${c.label} | ${fmt(b)} | ${fmt(p)} | ${speedup} |`);
    }
  }
}

main().catch((err: unknown) => {
  console.error(err instanceof Error ? err.stack ?? err.message : String(err));
  process.exitCode = 1;
});
