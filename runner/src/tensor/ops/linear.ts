/**
 * Linear layers y = x W^T + b (W is [d_out, d_in], Hugging Face layout) in the four
 * ways the engine runs them. Each forward sits beside its hand-written backward.
 *
 *  frozenLinear  W fixed. Keeps nothing for backward but W itself (which is the model).
 *  rowLinear     SPruFT (paper 4.1, eq. 5): W_f in R^{r x d_in} for the selected rows
 *                `idx`, zero at start; y = f(W, x) + scatter_idx(f(W_f, x)), computed
 *                as written or, by eq. 5's additivity, as f(W + M W_f, x), whichever
 *                costs less for the batch (rowLinearPath); the backward keeps only x,
 *                never f(W_f, x) (C.5), and dW_f = dy[:, idx]^T x.
 *  loraLinear    LoRA as PEFT runs it (eq. 3-4): y = f(W, x) + (alpha/r) B A drop(x),
 *                keeping what autograd keeps for it: the dropout mask, drop(x) and A x.
 *  fullLinear    W trainable: tfjs's own autograd.
 */
import { tf, type Tensor } from '../tf';
import { customOp, flatten2d } from './grad';
import { indexAdd } from './indexAdd';

/** SPruFT row adapter of one layer: selected rows and the trainable W_f (and b_f). */
export interface RowParams {
  /** int32 [r], ascending: the selected output rows (neurons). */
  rows: tf.Tensor1D;
  /** [r, d_in], zero at start. */
  wf: tf.Variable;
  /** [r]: the selected rows' bias entries, when trained. */
  bf?: tf.Variable;
}

/** LoRA adapter of one layer (PEFT's layout: A [r, d_in], B [d_out, r]). */
export interface LoraParams {
  a: tf.Variable;
  b: tf.Variable;
  /** alpha / r */
  scale: number;
}

/** A dropout mask for one call: bool, 1 = keep; values are scaled by 1 / keep. */
export interface DropoutMask {
  mask: Tensor;
  keep: number;
}

/**
 * Inverted dropout with a given mask: t * m / keep, with one temporary of t's size at a
 * time (as PyTorch's dropout: its output and the mask), not three: the peak of an
 * adapter's step is often inside this op (LoRA, VeRA, DoRA).
 */
export function dropInput(t: Tensor, m: Tensor, keep: number): Tensor {
  const kept = tf.tidy(() => tf.mul(t, tf.cast(m, 'float32')));
  const y = tf.mul(kept, 1 / keep);
  kept.dispose();
  return y;
}

/**
 * An adapter's input as a 2-D matrix (and how to give its output the input's leading
 * shape back), its dropout mask in that shape, and the mask's application (LoRA, VeRA
 * and DoRA read their input through dropout, PEFT's `lora_dropout`).
 */
export function adapterInput(x: Tensor, dropout: DropoutMask | undefined): {
  x2: tf.Tensor2D; restore: (y: Tensor, lastDim: number) => Tensor; mask2: Tensor | undefined; applyMask: (t: Tensor, m: Tensor) => Tensor;
} {
  const { x2, restore } = flatten2d(x);
  return { x2, restore, mask2: dropout ? tf.reshape(dropout.mask, x2.shape) : undefined, applyMask: (t, m) => dropInput(t, m, dropout!.keep) };
}

/** W + M W_f: the selected rows of W moved by W_f (M is the row selection of eq. 5). */
export function addRows(w: Tensor, rows: tf.Tensor1D, wf: Tensor): Tensor {
  return indexAdd(w, 0, rows, wf);
}

/** y + b, where the layer has a bias (broadcast over the last axis: linear and conv outputs alike). */
export function addBias(y: Tensor, bias: Tensor | undefined): Tensor {
  return bias ? tf.add(y, bias) : y;
}

/** Bias with the selected entries moved by b_f (a layer without bias: b_f at those entries). */
export function rowBias(bias: Tensor | undefined, rows: tf.Tensor1D, bf: Tensor | undefined, dOut: number): Tensor | undefined {
  if (!bf) return bias;
  return indexAdd(bias ?? tf.zeros([dOut]), 0, rows, bf);
}

export function frozenLinear(x: Tensor, w: Tensor, bias: Tensor | undefined, xNeedsGrad: boolean): Tensor {
  const { x2, restore } = flatten2d(x);
  const dOut = w.shape[0];
  const y = customOp(
    xNeedsGrad ? [x2] : [],
    () => addBias(tf.matMul(x2, w, false, true), bias),
    (dy) => (xNeedsGrad ? [tf.matMul(dy, w)] : []),
  );
  return restore(y, dOut);
}

/**
 * How rowLinear computes eq. 5 for N input rows; both give the same y and gradients.
 *  merged  one product with W + M W_f, rebuilt in the forward and again in the backward:
 *          O(d_out d_in) element work a step, whatever N.
 *  split   f(W, x) plus f(W_f, x) scattered into the selected columns, and
 *          dx = dy W + dy[:, idx] W_f: extra products of N r d_in and O(N d_out)
 *          element work.
 * Split while N r (d_in + d_out) < 48 d_in d_out: where the two cost the same on the
 * wasm backend for the decoder's and the ViT's shapes, from 32 to 2048 rows
 * (scripts/bench-row-linear.ts measures them side by side).
 */
export type RowPath = 'merged' | 'split';

export function rowLinearPath(n: number, r: number, dIn: number, dOut: number): RowPath {
  return n * r * (dIn + dOut) < 48 * dIn * dOut ? 'split' : 'merged';
}

export function rowLinear(
  x: Tensor, w: Tensor, bias: Tensor | undefined, p: RowParams, xNeedsGrad: boolean, path?: RowPath,
): Tensor {
  const { x2, restore } = flatten2d(x);
  const [dOut, dIn] = w.shape as [number, number];
  const how = path ?? rowLinearPath(x2.shape[0], p.wf.shape[0], dIn, dOut);
  const trainables: Tensor[] = p.bf ? [p.wf, p.bf] : [p.wf];
  const y = customOp(
    xNeedsGrad ? [x2, ...trainables] : trainables,
    (save) => {
      save([x2]);
      const b = rowBias(bias, p.rows, p.bf, dOut);
      if (how === 'merged') return addBias(tf.matMul(x2, addRows(w, p.rows, p.wf), false, true), b);
      // y[:, idx] += f(W_f, x): the selected output columns.
      return addBias(indexAdd(tf.matMul(x2, w, false, true), 1, p.rows, tf.matMul(x2, p.wf, false, true)), b);
    },
    (dy, [xs]) => {
      // dL/dW_f = dy[:, idx]^T x: only the selected rows' gradient is ever formed.
      const dyRows = tf.gather(dy, p.rows, 1);
      const grads: Tensor[] = [tf.matMul(dyRows, xs, true, false)];
      if (p.bf) grads.push(tf.sum(dyRows, 0));
      if (xNeedsGrad) {
        grads.unshift(how === 'merged' ? tf.matMul(dy, addRows(w, p.rows, p.wf)) : tf.add(tf.matMul(dy, w), tf.matMul(dyRows, p.wf)));
      }
      return grads;
    },
  );
  return restore(y, dOut);
}

export function loraLinear(
  x: Tensor,
  w: Tensor,
  bias: Tensor | undefined,
  p: LoraParams,
  dropout: DropoutMask | undefined,
  xNeedsGrad: boolean,
): Tensor {
  const { x2, restore, mask2, applyMask } = adapterInput(x, dropout);
  const dOut = w.shape[0];
  const y = customOp(
    xNeedsGrad ? [x2, p.a, p.b] : [p.a, p.b],
    (save) => {
      const xd = mask2 ? applyMask(x2, mask2) : x2;
      const h = tf.matMul(xd, p.a, false, true);
      save(mask2 ? [xd, h, mask2] : [xd, h]);
      const base = addBias(tf.matMul(x2, w, false, true), bias);
      return tf.add(base, tf.mul(tf.matMul(h, p.b, false, true), p.scale));
    },
    (dy, saved) => {
      const [xd, h, m] = saved;
      const g = tf.mul(dy, p.scale);
      const dh = tf.matMul(g, p.b);
      // dB = g^T h, formed as (h^T g)^T so that the large operand is never transposed.
      const db = tf.transpose(tf.matMul(h, g, true, false));
      const da = tf.matMul(dh, xd, true, false);
      if (!xNeedsGrad) return [da, db];
      const dxLora = tf.matMul(dh, p.a);
      const dx = tf.add(tf.matMul(dy, w), m ? applyMask(dxLora, m) : dxLora);
      return [dx, da, db];
    },
  );
  return restore(y, dOut);
}

/** A trainable weight (full fine-tuning, a new head): keeps x (and W for dx). */
export function fullLinear(x: Tensor, w: Tensor, bias: Tensor | undefined, xNeedsGrad: boolean): Tensor {
  const { x2, restore } = flatten2d(x);
  const trainables = bias ? [w, bias] : [w];
  const y = customOp(
    xNeedsGrad ? [x2, ...trainables] : trainables,
    (save) => {
      save([x2]);
      return addBias(tf.matMul(x2, w, false, true), bias);
    },
    (dy, [xs]) => {
      const grads: Tensor[] = [tf.matMul(dy, xs, true, false)];
      if (bias) grads.push(tf.sum(dy, 0));
      if (xNeedsGrad) grads.unshift(tf.matMul(dy, w));
      return grads;
    },
  );
  return restore(y, w.shape[0]);
}
