/**
 * DoRA (Liu et al. 2024; the paper's section 3, table 1 and appendix C.4, figure 3) on a
 * linear layer (and a conv, doraConv2d below), as PEFT's `LoraConfig(use_dora=True)` runs it:
 *
 *   W' = m * V / ||V||_c,   V = W0 + s B A,   s = alpha / r,
 *
 * the norm taken per output row over the input dimension (PEFT's
 * `torch.linalg.norm(W0 + s B A, dim=1)`), the magnitude m [d_out] initialised to the row
 * norms of W0 (B = 0 at start) and trained with LoRA's A [r, d_in] and B [d_out, r].
 *
 * As PEFT does (following DoRA's section 4.3), ||V||_c is DETACHED: it is recomputed from
 * the current A and B in every forward but treated as a constant in backward, so no
 * gradient flows through it. With g = m / ||V||_c (per row), u = drop(x) W0^T + s h B^T
 * and h = drop(x) A^T, PEFT's forward is
 *   no dropout:  y = g * u + b
 *   dropout:     y = x W0^T + b + (g - 1) * (drop(x) W0^T) + g * s h B^T
 *                  = x W0^T + b + g * u - drop(x) W0^T
 * (PEFT's DoraLinearLayer.forward with base_result = None: the frozen product runs a
 * second time on the dropped input).
 *
 * Backward keeps drop(x) (x itself without dropout, a shared buffer), h [N, r],
 * u [N, d_out], ||V||_c [d_out] and the mask: PyTorch's autograd keeps u's two terms
 * separately (figure 3). With gy = dy * g:
 *   dm = sum_n dy * u / ||V||_c,  dB = s gy^T h,  dh = s gy B,  dA = dh^T drop(x),
 *   dx = gy W0 + dh A                                  (no dropout)
 *   dx = dy W0 + drop((dy * (g - 1)) W0 + dh A)        (dropout)
 */
import { tf, type Tensor } from '../tf';
import { conv, conv2dBackpropFilter, conv2dBackpropInput, type ConvSpec } from './conv2d';
import { customOp, dims } from './grad';
import { adapterInput, addBias, dropInput, type DropoutMask, type LoraParams } from './linear';

/** DoRA adapter of one linear layer: LoRA's A, B and scale, and the magnitude. */
export interface DoraParams extends LoraParams {
  /** [d_out], trained; PEFT's `lora_magnitude_vector`. */
  m: tf.Variable;
}

/**
 * V = W0 + s B A: the direction before normalisation. Linear W0 [d_out, d_in]; conv W0
 * [kh, kw, c_in, c_out] with A [kh, kw, c_in, r] and B [r, c_out] (loraConv2d's layout),
 * B A then being (A as [kh kw c_in, r]) B reshaped to W0's shape.
 */
function direction(w: Tensor, p: LoraParams): Tensor {
  if (w.rank === 2) return tf.add(w, tf.mul(tf.matMul(p.b, p.a), p.scale));
  const r = dims(p.a)[3];
  return tf.add(w, tf.mul(tf.reshape(tf.matMul(tf.reshape(p.a, [-1, r]), p.b), dims(w)), p.scale));
}

/** ||V||_c: per output row over the input (linear), per output channel over kh, kw, c_in (conv, PEFT's dims 1..3). */
function outputNorms(v: Tensor): Tensor {
  return tf.sqrt(tf.sum(tf.square(v), v.rank === 2 ? 1 : [0, 1, 2]));
}

/** ||W0 + s B A||_c per output ([d_out]); with B = 0, the magnitude's initial value. */
export function doraWeightNorm(w: Tensor, p: LoraParams): Tensor {
  return tf.tidy(() => outputNorms(direction(w, p)));
}

/** The merged weight m * V / ||V||_c (W0's shape): what PEFT's merge writes into W0. */
export function doraMergedWeight(w: Tensor, p: DoraParams): Tensor {
  return tf.tidy(() => {
    const v = direction(w, p);
    const g = tf.div(p.m, outputNorms(v));
    return tf.mul(v, v.rank === 2 ? tf.reshape(g, [-1, 1]) : g);
  });
}

export function doraLinear(
  x: Tensor,
  w: Tensor,
  bias: Tensor | undefined,
  p: DoraParams,
  dropout: DropoutMask | undefined,
  xNeedsGrad: boolean,
): Tensor {
  const { x2, restore, mask2, applyMask } = adapterInput(x, dropout);
  const dOut = w.shape[0];
  const y = customOp(
    xNeedsGrad ? [x2, p.a, p.b, p.m] : [p.a, p.b, p.m],
    (save) => {
      // The norm from the current A and B, a constant to backward (PEFT: weight_norm.detach()).
      const norm = outputNorms(direction(w, p));
      const g = tf.div(p.m, norm);
      const xd = mask2 ? applyMask(x2, mask2) : x2;
      const h = tf.matMul(xd, p.a, false, true);
      const baseD = tf.matMul(xd, w, false, true);
      const u = tf.add(baseD, tf.mul(tf.matMul(h, p.b, false, true), p.scale));
      // The mask is kept even when x needs no gradient, as loraLinear keeps it (the memory
      // accounting counts every mask a step makes as kept).
      save(mask2 ? [xd, h, u, norm, mask2] : [xd, h, u, norm]);
      const scaled = tf.mul(u, g);
      const adapted = mask2 ? tf.add(tf.sub(tf.matMul(x2, w, false, true), baseD), scaled) : scaled;
      return addBias(adapted, bias);
    },
    (dy, [xd, h, u, norm, m]) => {
      const g = tf.div(p.m, norm);
      const dm = tf.div(tf.sum(tf.mul(dy, u), 0), norm);
      const gy = tf.mul(dy, g);
      const gs = tf.mul(gy, p.scale);
      // dB = s gy^T h, formed as (h^T gy)^T so that the large operand is never transposed.
      const db = tf.transpose(tf.matMul(h, gs, true, false));
      const dh = tf.matMul(gs, p.b);
      const da = tf.matMul(dh, xd, true, false);
      if (!xNeedsGrad) return [da, db, dm];
      const dxDora = tf.matMul(dh, p.a);
      const dx = m
        ? tf.add(tf.matMul(dy, w), applyMask(tf.add(tf.matMul(tf.sub(gy, dy), w), dxDora), m))
        : tf.add(tf.matMul(gy, w), dxDora);
      return [dx, da, db, dm];
    },
  );
  return restore(y, dOut);
}

/**
 * DoRA on a conv (PEFT's _DoraConvNdLayer): the same formulas with the products as convs,
 * h = conv(drop(x), A) ([.., r]), the LoRA output B as a 1x1 conv, ||V||_c per output
 * channel, and the same tensors kept (u is [N, H', W', c_out]).
 */
export function doraConv2d(
  x: Tensor,
  w: Tensor,
  bias: Tensor | undefined,
  spec: ConvSpec,
  p: DoraParams,
  dropout: DropoutMask | undefined,
  xNeedsGrad: boolean,
): Tensor {
  const r = dims(p.a)[3];
  const dOut = dims(w)[3];
  const applyMask = (t: Tensor, m: Tensor): Tensor => dropInput(t, m, dropout!.keep);
  return customOp(
    xNeedsGrad ? [x, p.a, p.b, p.m] : [p.a, p.b, p.m],
    (save) => {
      const norm = outputNorms(direction(w, p));
      const xd = dropout ? applyMask(x, dropout.mask) : x;
      const h = conv(xd, p.a, spec);
      const baseD = conv(xd, w, spec);
      const up = tf.reshape(tf.matMul(tf.reshape(h, [-1, r]), p.b), dims(baseD));
      const u = tf.add(baseD, tf.mul(up, p.scale));
      save(dropout ? [xd, h, u, norm, dropout.mask] : [xd, h, u, norm]);
      const scaled = tf.mul(u, tf.div(p.m, norm));
      const adapted = dropout ? tf.add(tf.sub(conv(x, w, spec), baseD), scaled) : scaled;
      return addBias(adapted, bias);
    },
    (dy, [xd, h, u, norm, m]) => {
      const g = tf.div(p.m, norm);
      const dm = tf.div(tf.sum(tf.mul(dy, u), [0, 1, 2]), norm);
      const gy = tf.mul(dy, g);
      const g2 = tf.reshape(tf.mul(gy, p.scale), [-1, dOut]);
      const db = tf.matMul(tf.reshape(h, [-1, r]), g2, true, false);
      const dh = tf.reshape(tf.matMul(g2, p.b, false, true), dims(h));
      const da = conv2dBackpropFilter(xd, dh, dims(p.a), spec);
      if (!xNeedsGrad) return [da, db, dm];
      const dxDora = conv2dBackpropInput(dims(xd), dh, p.a, spec);
      const dx = m
        ? tf.add(conv2dBackpropInput(dims(xd), dy, w, spec), applyMask(tf.add(conv2dBackpropInput(dims(xd), tf.sub(gy, dy), w, spec), dxDora), m))
        : tf.add(conv2dBackpropInput(dims(xd), gy, w, spec), dxDora);
      return [dx, da, db, dm];
    },
  );
}
