import type { BackendName } from '../../../protocol/results';

/** Register the project's kernels (missing or slow gradient kernels) on a backend. */
export function registerProjectKernels(_backend: BackendName): string[] {
  return [];
}
