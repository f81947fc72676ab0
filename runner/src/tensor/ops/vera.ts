/**
 * VeRA (Kopiczko et al. 2024; the paper's section 3 and tables 1, 3 compare with it) on a
 * linear layer, as PEFT's `VeraConfig` runs it:
 *
 *   y = x W0^T + b + lambda_b * ( (lambda_d * (drop(x) A^T)) B^T )
 *
 * i.e. h = W0 x + Lambda_b B Lambda_d A x with A [r, d_in] and B [d_out, r] frozen random
 * matrices SHARED by every adapted layer (one pair drawn at the largest shape, each layer
 * reading its top-left slice A[:, :d_in], B[:d_out, :]), and only the vectors
 * lambda_d [r] (init d_initial) and lambda_b [d_out] (init 0) trained.
 *
 * Backward, keeping the minimum: since A and B get no gradient, drop(x) is never needed;
 * only h = drop(x) A^T ([N, r]) is kept, and the dropout mask.
 * z = (h * lambda_d) B^T is recomputed in backward (N r d_out multiply-adds) rather than
 * kept ([N, d_out]; PyTorch's autograd keeps it for d lambda_b):
 *   d lambda_b = sum_n dy * z,   g = (dy * lambda_b) B,
 *   d lambda_d = sum_n g * h,    dx = dy W0 + drop((g * lambda_d) A).
 */
import type { Rng } from '../rng';
import { tf, type Tensor } from '../tf';
import { customOp } from './grad';
import { adapterInput, addBias, type DropoutMask } from './linear';

/** VeRA adapter of one linear layer. */
export interface VeraParams {
  /** [r, d_in]: this layer's slice of the shared frozen A. */
  a: Tensor;
  /** [d_out, r]: this layer's slice of the shared frozen B. */
  b: Tensor;
  /** [r], trained; PEFT's `vera_lambda_d`. */
  lambdaD: tf.Variable;
  /** [d_out], trained; PEFT's `vera_lambda_b`. */
  lambdaB: tf.Variable;
}

/** The shared frozen projections (PEFT's `vera_A` [r, d_in max], `vera_B` [d_out max, r]). */
export interface VeraProjections {
  a: Tensor;
  b: Tensor;
}

/**
 * Draw the shared projections as PEFT does: Kaiming-uniform with gain sqrt(2) on the
 * fan-in (the second dimension), U(+-sqrt(6 / fan_in)): A's fan-in is d_in max, B's is r.
 * A is drawn first, then B, from one generator seeded by `projection_prng_key`. The
 * numbers are this engine's (rng.ts), not torch's, so a PEFT load needs the projections
 * in the adapter file (`save_projection: true`, PEFT's default).
 */
export function veraProjectionArrays(rng: Rng, rank: number, dInMax: number, dOutMax: number): { a: Float32Array; b: Float32Array } {
  const boundA = Math.sqrt(6 / dInMax);
  const boundB = Math.sqrt(6 / rank);
  const a = rng.fillUniform(new Float32Array(rank * dInMax), -boundA, boundA);
  const b = rng.fillUniform(new Float32Array(dOutMax * rank), -boundB, boundB);
  return { a, b };
}

/** A layer's view of the shared projections: A[:, :d_in] and B[:d_out, :] (PEFT's slicing). */
export function sliceProjections(p: VeraProjections, dIn: number, dOut: number): VeraProjections {
  const [rank, dInMax] = p.a.shape as [number, number];
  const dOutMax = p.b.shape[0];
  if (dIn > dInMax || dOut > dOutMax) {
    throw new Error(`VeRA projections are [${rank}, ${dInMax}] and [${dOutMax}, ${rank}]; a layer of ${dOut} x ${dIn} does not fit`);
  }
  return {
    a: dIn === dInMax ? p.a : tf.slice(p.a, [0, 0], [rank, dIn]),
    b: dOut === dOutMax ? p.b : tf.slice(p.b, [0, 0], [dOut, rank]),
  };
}

/** Delta W = Lambda_b B Lambda_d A ([d_out, d_in]): what merging adds to W0 (PEFT's get_delta_weight). */
export function veraDeltaWeight(p: VeraParams): Tensor {
  return tf.tidy(() => tf.matMul(
    tf.mul(p.b, tf.reshape(p.lambdaB, [-1, 1])),
    tf.mul(p.a, tf.reshape(p.lambdaD, [-1, 1])),
  ));
}

export function veraLinear(
  x: Tensor,
  w: Tensor,
  bias: Tensor | undefined,
  p: VeraParams,
  dropout: DropoutMask | undefined,
  xNeedsGrad: boolean,
): Tensor {
  const { x2, restore, mask2, applyMask } = adapterInput(x, dropout);
  const dOut = w.shape[0];
  const y = customOp(
    xNeedsGrad ? [x2, p.lambdaD, p.lambdaB] : [p.lambdaD, p.lambdaB],
    (save) => {
      const h = tf.matMul(mask2 ? applyMask(x2, mask2) : x2, p.a, false, true);
      // The mask is kept even when x needs no gradient, as loraLinear keeps it: the memory
      // accounting counts every mask a step makes as kept (ForwardContext.dropoutMaskBytes).
      save(mask2 ? [h, mask2] : [h]);
      const z = tf.matMul(tf.mul(h, p.lambdaD), p.b, false, true);
      const base = tf.matMul(x2, w, false, true);
      const adapted = tf.add(base, tf.mul(z, p.lambdaB));
      return addBias(adapted, bias);
    },
    (dy, [h, m]) => {
      const z = tf.matMul(tf.mul(h, p.lambdaD), p.b, false, true);
      const dLambdaB = tf.sum(tf.mul(dy, z), 0);
      const g = tf.matMul(tf.mul(dy, p.lambdaB), p.b);
      const dLambdaD = tf.sum(tf.mul(g, h), 0);
      if (!xNeedsGrad) return [dLambdaD, dLambdaB];
      const dxVera = tf.matMul(tf.mul(g, p.lambdaD), p.a);
      const dx = tf.add(tf.matMul(dy, w), m ? applyMask(dxVera, m) : dxVera);
      return [dx, dLambdaD, dLambdaB];
    },
  );
  return restore(y, dOut);
}
