import type { BackendName } from '../../../protocol/results';
import { tf } from '../engine/tf';
import type { BackendKind } from './backendMemory';
import { installKernel, isProjectKernel, uninstallKernel } from './registry';
import { transposeKernel } from './transpose';
import { conv2dBackpropFilterKernel } from './conv2dBackpropFilter';
import { conv2dBackpropInputKernel } from './conv2dBackpropInput';
import { depthwiseBackpropFilterKernel, depthwiseBackpropInputKernel } from './depthwiseConv2dBackprop';
import { gatherV2Kernel } from './gatherV2';
import { batchMatMulKernel } from './batchMatMul';
import { unsortedSegmentSumKernel } from './unsortedSegmentSum';

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
    { kernelName: 'BatchMatMul', kernelFunc: batchMatMulKernel },
  ],
  cpu: [
    { kernelName: 'Transpose', kernelFunc: transposeKernel },
    { kernelName: 'Conv2DBackpropFilter', kernelFunc: conv2dBackpropFilterKernel },
    { kernelName: 'DepthwiseConv2dNativeBackpropFilter', kernelFunc: depthwiseBackpropFilterKernel },
    { kernelName: 'DepthwiseConv2dNativeBackpropInput', kernelFunc: depthwiseBackpropInputKernel },
    { kernelName: 'UnsortedSegmentSum', kernelFunc: unsortedSegmentSumKernel },
    { kernelName: 'GatherV2', kernelFunc: gatherV2Kernel },
  ],
};

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
  for (const plan of PROJECT_KERNELS[backend]) {
    if (installKernel(plan.kernelName, backend, plan.kernelFunc)) names.push(plan.kernelName);
  }
  return names;
}

/** Put the builtin kernels back (tests and the benchmark compare with them). */
export function unregisterProjectKernels(backend: BackendKind): void {
  for (const plan of PROJECT_KERNELS[backend]) uninstallKernel(plan.kernelName, backend);
}

/** Names of the project kernels in place on a backend now. */
export function projectKernelsInPlace(backend: BackendKind): string[] {
  return PROJECT_KERNELS[backend].filter((p) => isProjectKernel(p.kernelName, backend)).map((p) => p.kernelName);
}
