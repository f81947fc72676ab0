/**
 * The project's own kernels for the wasm and cpu backends: gradient kernels that wasm
 * lacks or that cpu runs very slowly, and data movement / matmul routing where the wasm
 * builtins were measured slow. Each replaces nothing it has not beaten or filled in:
 *
 *   wasm: Conv2DBackpropFilter, DepthwiseConv2dNativeBackpropFilter,
 *         DepthwiseConv2dNativeBackpropInput, UnsortedSegmentSum (missing there);
 *         Conv2DBackpropInput (builtin is a C++ loop, ~10x slower than XNNPACK convs);
 *         BatchMatMul (transposed / batched products routed to XNNPACK's 2-d path),
 *         _FusedMatMul (unbatched products with a transpose flag, likewise);
 *         GatherV2 (row copies; also fixes the builtin's wrong batchDims results);
 *         SpruftIndexAdd (tensor/ops/indexAdd.ts: no builtin; one copy and r slice adds),
 *         SpruftRope (tensor/ops/rope.ts: no builtin; one pass instead of six kernels),
 *         Transpose (only for matrices with a multiple of 512 rows, else the builtin).
 *   cpu:  Conv2DBackpropFilter, DepthwiseConv2dNativeBackpropFilter / -Input,
 *         UnsortedSegmentSum, GatherV2, Transpose (all far faster than cpu's builtins),
 *         SpruftIndexAdd, SpruftRope, SpruftAdamPart (tensor/ops/adam.ts: one buffer per
 *         part of Adam's update, not eleven).
 *         cpu keeps its builtin Conv2DBackpropInput: it is as fast as cpu's own conv2d.
 *
 * Measured with `npx tsx runner/src/kernels/kernelBench.ts` (tfjs 4.22, Node 20, wasm
 * SIMD one thread, 2 cores shared with other jobs: load average 7-8 during the run, so
 * absolute times vary 2-3x between runs; the ratios held). Best of 5 calls, builtin and
 * project alternating; builtins over a second timed once. "missing": no builtin kernel.
 *
 * backend  kernel                               case                                                builtin ms  project ms   speedup
 * wasm     Transpose                            [4096,512] perm [1,0]                                     26.0        6.63      3.9x
 * wasm     Transpose                            [1000,768] perm [1,0]                                     1.60        1.72      0.9x
 * wasm     Transpose                            [32,128,64] perm [0,2,1]                                  0.36        0.42      0.8x
 * wasm     Transpose                            [32,32,32,16] perm [3,1,2,0]                              1.51        1.72      0.9x
 * wasm     GatherV2                             64 columns of [4096,512]                                  22.1        3.36      6.6x
 * wasm     GatherV2                             64 rows of [512,512]                                      2.24        0.13     17.6x
 * wasm     GatherV2                             512 rows of [8000,256]                                    9.10        0.40     22.7x
 * wasm     UnsortedSegmentSum                   [512,256] -> 1000 segments                             missing        0.75       new
 * wasm     Conv2DBackpropFilter                 x[32,32,32,16] f[3,3,16,16] s1 same                    missing        23.1       new
 * wasm     Conv2DBackpropInput                  x[32,32,32,16] f[3,3,16,16] s1 same                        138        11.2     12.3x
 * wasm     Conv2DBackpropFilter                 x[32,32,32,16] f[3,3,16,32] s2 same                    missing        14.2       new
 * wasm     Conv2DBackpropInput                  x[32,32,32,16] f[3,3,16,32] s2 same                       58.5        10.1      5.8x
 * wasm     Conv2DBackpropFilter                 x[32,16,16,64] f[1,1,64,128] s2 same                   missing        11.3       new
 * wasm     Conv2DBackpropInput                  x[32,16,16,64] f[1,1,64,128] s2 same                      25.3        3.41      7.4x
 * wasm     Conv2DBackpropFilter                 x[32,16,16,64] f[3,3,64,64] s1 same                    missing        62.2       new
 * wasm     Conv2DBackpropInput                  x[32,16,16,64] f[3,3,64,64] s1 same                        382        35.7     10.7x
 * wasm     Conv2DBackpropFilter                 x[32,32,32,3] f[3,3,3,32] s1 same                      missing        33.4       new
 * wasm     Conv2DBackpropInput                  x[32,32,32,3] f[3,3,3,32] s1 same                         41.1        11.3      3.6x
 * wasm     DepthwiseConv2dNativeBackpropFilter  x[32,16,16,96] f[3,3,96,1] s1 same                     missing        28.3       new
 * wasm     DepthwiseConv2dNativeBackpropInput   x[32,16,16,96] f[3,3,96,1] s1 same                     missing        5.31       new
 * wasm     DepthwiseConv2dNativeBackpropFilter  x[32,16,16,96] f[3,3,96,1] s2 same                     missing        16.9       new
 * wasm     DepthwiseConv2dNativeBackpropInput   x[32,16,16,96] f[3,3,96,1] s2 same                     missing        9.59       new
 * wasm     DepthwiseConv2dNativeBackpropFilter  x[32,32,32,32] f[3,3,32,1] s1 same                     missing        41.0       new
 * wasm     DepthwiseConv2dNativeBackpropInput   x[32,32,32,32] f[3,3,32,1] s1 same                     missing        6.33       new
 * wasm     BatchMatMul                          [4096,512]T x [4096,512] (dW = x^T dy)                    4767         173     27.5x
 * wasm     BatchMatMul                          [4096,64]T x [4096,512] (dW, 64 rows)                      223        19.6     11.4x
 * wasm     BatchMatMul                          [4096,16]T x [4096,768] (row adapter dW_f, r=16)          83.5        7.86     10.6x
 * wasm     BatchMatMul                          [4096,512] x [512,512]T (dx = dy W^T)                     1736         126     13.8x
 * wasm     BatchMatMul                          [4096,768] x [16,768]T (row adapter forward, r=16)        84.4        6.68     12.6x
 * wasm     BatchMatMul                          [512,4096] x [512,4096]T ()                               1822         210      8.7x
 * wasm     BatchMatMul                          [32,128,64] x [32,64,128] (attention)                     55.7        8.00      7.0x
 * wasm     BatchMatMul                          [32,128,64] x [32,128,64]T (Q K^T)                        66.1        9.82      6.7x
 * wasm     BatchMatMul                          [32,128,128]T x [32,128,64] (attention grad)              64.0        13.5      4.7x
 * wasm     BatchMatMul                          [8,128,512] x [512,512] (batch x weight)                   586        32.4     18.1x
 * wasm     BatchMatMul                          [64,16,16] x [64,16,16]T (small: builtin)                 0.55        0.54      1.0x
 * wasm     BatchMatMul                          [512,4096] x [4096,512] (plain 2-d: builtin)               252         234      1.1x
 * wasm     _FusedMatMul                         [1,1024,512] x [1,512,512]T (bias + relu) *                465        33.2     14.0x
 * wasm     _FusedMatMul                         [1,4096,768] x [1,16,768]T (bias, r=16) *                 76.8        6.38     12.0x
 * wasm     _FusedMatMul                         [8,128,512] x [8,512,512] (bias + relu) *                  492        54.1      9.1x
 * cpu      Transpose                            [4096,512] perm [1,0]                                      335        11.0     30.4x
 * cpu      Transpose                            [1000,768] perm [1,0]                                      171        6.17     27.7x
 * cpu      Transpose                            [32,128,64] perm [0,2,1]                                  56.5        2.24     25.2x
 * cpu      Transpose                            [32,32,32,16] perm [3,1,2,0]                               116        3.00     38.7x
 * cpu      GatherV2                             64 columns of [4096,512]                                  38.7        3.73     10.4x
 * cpu      GatherV2                             64 rows of [512,512]                                      3.67        0.11     31.9x
 * cpu      GatherV2                             512 rows of [8000,256]                                    14.0        0.40     35.0x
 * cpu      UnsortedSegmentSum                   [512,256] -> 200 segments                                14454        0.81  17742.2x
 * cpu      Conv2DBackpropFilter                 x[32,32,32,16] f[3,3,16,16] s1 same                      59950         480    125.0x
 * cpu      Conv2DBackpropFilter                 x[32,32,32,16] f[3,3,16,32] s2 same                      56281         107    525.4x
 * cpu      Conv2DBackpropFilter                 x[32,16,16,64] f[1,1,64,128] s2 same                     21137        75.4    280.2x
 * cpu      Conv2DBackpropFilter                 x[8,16,16,64] f[3,3,64,64] s1 same                       70553         228    309.4x
 * cpu      Conv2DBackpropFilter                 x[32,32,32,3] f[3,3,3,32] s1 same                        22526         223    100.9x
 * cpu      DepthwiseConv2dNativeBackpropFilter  x[32,16,16,96] f[3,3,96,1] s1 same                       11554         103    112.7x
 * cpu      DepthwiseConv2dNativeBackpropInput   x[32,16,16,96] f[3,3,96,1] s1 same                         104        30.3      3.4x
 * cpu      DepthwiseConv2dNativeBackpropFilter  x[32,16,16,96] f[3,3,96,1] s2 same                        4075        21.2    191.9x
 * cpu      DepthwiseConv2dNativeBackpropInput   x[32,16,16,96] f[3,3,96,1] s2 same                        36.3        9.78      3.7x
 * cpu      DepthwiseConv2dNativeBackpropFilter  x[32,32,32,32] f[3,3,32,1] s1 same                        9711        65.0    149.3x
 * cpu      DepthwiseConv2dNativeBackpropInput   x[32,32,32,32] f[3,3,32,1] s1 same                         124        41.2      3.0x
 *
 * (*) the builtin's result is also wrong there: it adds the bias to the wrong elements.
 * The cpu builtin Conv2DBackpropFilter took 18-20 s on the first conv case on a quiet
 * machine (DATA.md); the 60 s above is the loaded machine.
 *
 * Native BLAS (issue 11): where the addon of native/ loads (nativeBlas.ts), BatchMatMul
 * and _FusedMatMul on wasm are the native kernels of nativeMatMul.ts instead, which fall
 * back to the wasm ones above for what they do not cover. Their rates beside XNNPACK's:
 * scripts/bench-native-gemm.ts (README, "Native BLAS").
 */
import type { BackendName } from '../../../protocol/results';
import { tf } from '../tensor/tf';
import type { BackendKind } from './backendMemory';
import { installKernel, isProjectKernel, uninstallKernel } from './registry';
import { transposeKernel } from './transpose';
import { conv2dBackpropFilterKernel } from './conv2dBackpropFilter';
import { conv2dBackpropInputKernel } from './conv2dBackpropInput';
import { depthwiseBackpropFilterKernel, depthwiseBackpropInputKernel } from './depthwiseConv2dBackprop';
import { gatherV2Kernel } from './gatherV2';
import { INDEX_ADD } from '../tensor/ops/indexAdd';
import { indexAddKernel } from './indexAdd';
import { ROPE } from '../tensor/ops/rope';
import { ropeKernel } from './rope';
import { ADAM_PART } from '../tensor/ops/adam';
import { adamPartKernel, nativeAdamPartKernel } from './adam';
import { batchMatMulKernel, fusedMatMulKernel } from './batchMatMul';
import { unsortedSegmentSumKernel } from './unsortedSegmentSum';
import { nativeBlas } from './nativeBlas';
import { nativeBatchMatMulKernel, nativeFusedMatMulKernel } from './nativeMatMul';

interface KernelPlan {
  kernelName: string;
  kernelFunc: tf.KernelFunc;
}

/** Which kernels the project registers on each backend (see the measurements above). */
export const PROJECT_KERNELS: Readonly<Record<BackendKind, readonly KernelPlan[]>> = {
  wasm: [
    { kernelName: 'Transpose', kernelFunc: transposeKernel },
    { kernelName: 'Conv2DBackpropFilter', kernelFunc: conv2dBackpropFilterKernel },
    { kernelName: 'Conv2DBackpropInput', kernelFunc: conv2dBackpropInputKernel },
    { kernelName: 'DepthwiseConv2dNativeBackpropFilter', kernelFunc: depthwiseBackpropFilterKernel },
    { kernelName: 'DepthwiseConv2dNativeBackpropInput', kernelFunc: depthwiseBackpropInputKernel },
    { kernelName: 'UnsortedSegmentSum', kernelFunc: unsortedSegmentSumKernel },
    { kernelName: 'GatherV2', kernelFunc: gatherV2Kernel },
    { kernelName: INDEX_ADD, kernelFunc: indexAddKernel },
    { kernelName: ROPE, kernelFunc: ropeKernel },
    { kernelName: 'BatchMatMul', kernelFunc: batchMatMulKernel },
    { kernelName: '_FusedMatMul', kernelFunc: fusedMatMulKernel },
  ],
  cpu: [
    { kernelName: 'Transpose', kernelFunc: transposeKernel },
    { kernelName: 'Conv2DBackpropFilter', kernelFunc: conv2dBackpropFilterKernel },
    { kernelName: 'DepthwiseConv2dNativeBackpropFilter', kernelFunc: depthwiseBackpropFilterKernel },
    { kernelName: 'DepthwiseConv2dNativeBackpropInput', kernelFunc: depthwiseBackpropInputKernel },
    { kernelName: 'UnsortedSegmentSum', kernelFunc: unsortedSegmentSumKernel },
    { kernelName: 'GatherV2', kernelFunc: gatherV2Kernel },
    { kernelName: INDEX_ADD, kernelFunc: indexAddKernel },
    { kernelName: ROPE, kernelFunc: ropeKernel },
    { kernelName: ADAM_PART, kernelFunc: adamPartKernel },
  ],
};

/**
 * The kernels that run natively over wasm when the addon loads: the products (replacing
 * the wasm ones) and Adam's update parts (where the addon has them; without it wasm runs
 * them as tfjs ops, faster there than a JavaScript loop).
 */
export const NATIVE_KERNELS: readonly KernelPlan[] = [
  { kernelName: 'BatchMatMul', kernelFunc: nativeBatchMatMulKernel },
  { kernelName: '_FusedMatMul', kernelFunc: nativeFusedMatMulKernel },
  { kernelName: ADAM_PART, kernelFunc: nativeAdamPartKernel },
];

/** The native plans the loaded addon can serve (one built before adamPart has only the products). */
function nativePlans(): readonly KernelPlan[] {
  const blas = nativeBlas();
  if (blas == null) return [];
  return NATIVE_KERNELS.filter((p) => p.kernelName !== ADAM_PART || typeof blas.adamPart === 'function');
}

/** The plans for a backend now: on wasm the native kernels replace or join the wasm ones where the addon loads. */
function plansFor(backend: BackendKind): readonly KernelPlan[] {
  if (backend !== 'wasm') return PROJECT_KERNELS[backend];
  const natives = nativePlans();
  const replaced = PROJECT_KERNELS.wasm.map((p) => natives.find((n) => n.kernelName === p.kernelName) ?? p);
  return [...replaced, ...natives.filter((n) => !PROJECT_KERNELS.wasm.some((p) => p.kernelName === n.kernelName))];
}

/** Names of the kernels registerProjectKernels puts on a backend now (with the native ones on wasm where the addon loads). */
export function plannedKernels(backend: BackendKind): string[] {
  return plansFor(backend).map((p) => p.kernelName);
}

/** Names of the native kernels in place on wasm now (empty where the addon did not load). */
export function nativeKernelsInPlace(): string[] {
  return NATIVE_KERNELS.filter((p) => tf.getKernel(p.kernelName, 'wasm')?.kernelFunc === p.kernelFunc).map((p) => p.kernelName);
}

/**
 * Register the project's kernels (missing or slow gradient kernels, fast data movement)
 * on a backend; returns the names of the project kernels now in place there. Safe to
 * call more than once and for several backends. The `tensorflow` backend gets none.
 */
export function registerProjectKernels(backend: BackendName): string[] {
  if (backend !== 'wasm' && backend !== 'cpu') return [];
  // The backend's own kernels must be registered first (its package imported), or they
  // would later replace ours; a plain marker is Transpose, which both backends have.
  if (tf.getKernel('Transpose', backend) == null) return [];
  const names: string[] = [];
  for (const plan of plansFor(backend)) {
    if (installKernel(plan.kernelName, backend, plan.kernelFunc)) names.push(plan.kernelName);
  }
  return names;
}

/** Put the builtin kernels back (tests and the benchmark compare with them). */
export function unregisterProjectKernels(backend: BackendKind): void {
  for (const plan of plansFor(backend)) uninstallKernel(plan.kernelName, backend);
}

/** Names of the project kernels in place on a backend now. */
export function projectKernelsInPlace(backend: BackendKind): string[] {
  return PROJECT_KERNELS[backend].filter((p) => isProjectKernel(p.kernelName, backend)).map((p) => p.kernelName);
}
