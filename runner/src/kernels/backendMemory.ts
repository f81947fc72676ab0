/**
 * Direct access to tensor memory inside a kernel, for the two backends whose memory is
 * plain JavaScript-reachable: `cpu` (a typed array per tensor) and `wasm` (one
 * WebAssembly heap; a tensor is a byte offset into it, see tfjs-backend-wasm's
 * `backend_wasm.js`: `dataIdMap.get(dataId).memoryOffset`, `makeOutput`).
 *
 * The project's kernels work on `TensorInfo`s (like the backends' own kernels) rather
 * than on `tf.Tensor`s, so that nothing they do is recorded on the gradient tape or
 * counted by the engine, and every intermediate is released before they return.
 *
 * On wasm a typed-array view is invalidated by any allocation (the heap may grow and
 * its ArrayBuffer be replaced), so views are taken after the last allocation, never kept.
 */
import { tf } from '../tensor/tf';

export type TensorInfo = tf.TensorInfo;
export type KernelBackend = tf.KernelBackend;
export type BackendKind = 'wasm' | 'cpu';

/** The element types the project's kernels handle (4 bytes each). */
export type NumericDType = 'float32' | 'int32';

export interface NumericArrays {
  float32: Float32Array;
  int32: Int32Array;
}

/** What the project's kernels read of the wasm backend (tfjs-backend-wasm 4.x). */
interface WasmTensorRecord {
  id: number;
  memoryOffset: number;
  shape: number[];
  dtype: tf.DataType;
}
interface WasmBackendInternals {
  wasm: { HEAPU8: Uint8Array };
  dataIdMap: { get(dataId: tf.DataId): WasmTensorRecord | undefined };
  makeOutput(shape: number[], dtype: tf.DataType): TensorInfo;
  disposeData(dataId: tf.DataId, force?: boolean): boolean;
}

/** What the project's kernels read of the cpu backend (tfjs-backend-cpu 4.x). */
interface CpuBackendInternals {
  data: { get(dataId: tf.DataId): { values?: tf.BackendValues } | undefined };
  makeTensorInfo(shape: number[], dtype: tf.DataType, values?: tf.BackendValues): TensorInfo;
  disposeIntermediateTensorInfo(info: TensorInfo): void;
}

function isWasmBackend(backend: object): backend is WasmBackendInternals {
  const b = backend as Partial<WasmBackendInternals>;
  return b.wasm != null && b.dataIdMap != null && typeof b.makeOutput === 'function';
}

function isCpuBackend(backend: object): backend is CpuBackendInternals {
  const b = backend as Partial<CpuBackendInternals>;
  return b.data != null && typeof b.makeTensorInfo === 'function';
}

export class KernelMemoryError extends Error {
  readonly code = 'KERNEL_MEMORY';
}

/**
 * Memory of one backend instance, as a kernel sees it: views of tensors, new outputs,
 * and release of intermediates.
 */
export interface BackendMemory {
  readonly kind: BackendKind;
  readonly backend: KernelBackend;
  /** A view of a float32 tensor's values (valid until the next allocation). */
  f32(info: TensorInfo): Float32Array;
  /** A view of an int32 tensor's values (valid until the next allocation). */
  i32(info: TensorInfo): Int32Array;
  /** A view typed after the tensor's dtype (float32 or int32). */
  view(info: TensorInfo): Float32Array | Int32Array;
  /**
   * A float32 tensor as (array, element offset) into the memory that holds it: on wasm
   * a view of the whole heap (so that native code reads and writes the tensor in place,
   * and several tensors share one view), on cpu its own array at offset 0. Valid until
   * the next allocation.
   */
  place(info: TensorInfo): { array: Float32Array; offset: number };
  /** A new tensor; its contents are undefined unless `zero` is set. */
  alloc(shape: number[], dtype: NumericDType, zero?: boolean): TensorInfo;
  /** Release an intermediate made by `alloc` or by another kernel. */
  dispose(info: TensorInfo): void;
}

function size(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

class WasmMemory implements BackendMemory {
  readonly kind = 'wasm' as const;
  constructor(readonly backend: KernelBackend, private readonly b: WasmBackendInternals) {}

  private record(info: TensorInfo): WasmTensorRecord {
    const rec = this.b.dataIdMap.get(info.dataId);
    if (rec == null) throw new KernelMemoryError('tensor is not on the wasm backend (was it disposed?)');
    return rec;
  }
  f32(info: TensorInfo): Float32Array {
    return new Float32Array(this.b.wasm.HEAPU8.buffer, this.record(info).memoryOffset, size(info.shape));
  }
  i32(info: TensorInfo): Int32Array {
    return new Int32Array(this.b.wasm.HEAPU8.buffer, this.record(info).memoryOffset, size(info.shape));
  }
  view(info: TensorInfo): Float32Array | Int32Array {
    return info.dtype === 'int32' ? this.i32(info) : this.f32(info);
  }
  place(info: TensorInfo): { array: Float32Array; offset: number } {
    const offset = this.record(info).memoryOffset;
    const buffer = this.b.wasm.HEAPU8.buffer;
    if (this.heap?.buffer !== buffer) this.heap = new Float32Array(buffer);
    return { array: this.heap, offset: offset >>> 2 };
  }
  private heap: Float32Array | undefined;
  alloc(shape: number[], dtype: NumericDType, zero = false): TensorInfo {
    const out = this.b.makeOutput(shape, dtype);
    if (zero) this.view(out).fill(0);
    return out;
  }
  dispose(info: TensorInfo): void {
    this.b.disposeData(info.dataId);
  }
}

class CpuMemory implements BackendMemory {
  readonly kind = 'cpu' as const;
  constructor(readonly backend: KernelBackend, private readonly b: CpuBackendInternals) {}

  private values(info: TensorInfo): tf.BackendValues {
    const rec = this.b.data.get(info.dataId);
    if (rec?.values == null) throw new KernelMemoryError('tensor has no values on the cpu backend (disposed, or complex)');
    return rec.values;
  }
  f32(info: TensorInfo): Float32Array {
    const v = this.values(info);
    if (!(v instanceof Float32Array)) throw new KernelMemoryError(`expected float32 values, got ${info.dtype}`);
    return v;
  }
  i32(info: TensorInfo): Int32Array {
    const v = this.values(info);
    if (!(v instanceof Int32Array)) throw new KernelMemoryError(`expected int32 values, got ${info.dtype}`);
    return v;
  }
  view(info: TensorInfo): Float32Array | Int32Array {
    return info.dtype === 'int32' ? this.i32(info) : this.f32(info);
  }
  place(info: TensorInfo): { array: Float32Array; offset: number } {
    return { array: this.f32(info), offset: 0 };
  }
  alloc(shape: number[], dtype: NumericDType): TensorInfo {
    // Fresh typed arrays are zeroed, so `zero` costs nothing here.
    const n = size(shape);
    const values = dtype === 'int32' ? new Int32Array(n) : new Float32Array(n);
    return this.b.makeTensorInfo(shape, dtype, values);
  }
  dispose(info: TensorInfo): void {
    this.b.disposeIntermediateTensorInfo(info);
  }
}

/** The memory of a backend instance, or an error saying that it is neither cpu nor wasm. */
export function backendMemory(backend: KernelBackend): BackendMemory {
  if (isWasmBackend(backend)) return new WasmMemory(backend, backend);
  if (isCpuBackend(backend)) return new CpuMemory(backend, backend);
  throw new KernelMemoryError('the project kernels run only on the wasm and cpu backends');
}

/** Bytes of the wasm heap, for tests that check that repeated calls do not grow it. */
export function wasmHeapBytes(backend: KernelBackend): number | undefined {
  return isWasmBackend(backend) ? backend.wasm.HEAPU8.buffer.byteLength : undefined;
}

/** Is this dtype one that the project's data-movement kernels handle themselves? */
export function isNumeric(dtype: tf.DataType): dtype is NumericDType {
  return dtype === 'float32' || dtype === 'int32';
}

export function sizeOf(shape: readonly number[]): number {
  return size(shape);
}

/** Row-major strides of a shape. */
export function stridesOf(shape: readonly number[]): number[] {
  const s = new Array<number>(shape.length);
  let acc = 1;
  for (let i = shape.length - 1; i >= 0; i--) {
    s[i] = acc;
    acc *= shape[i];
  }
  return s;
}
