/**
 * What trains in a normalisation layer (LayerNorm, RMSNorm, BatchNorm). Its rows are
 * channels: the entries of the scale (gamma) and shift (beta) vectors (paper 1.1:
 * SPruFT handles norm layers, which LoRA cannot).
 */
import { tf, type Tensor } from '../tf';
import { indexAdd } from './indexAdd';

export type NormTraining =
  | { kind: 'frozen' }
  /** SPruFT: scale and shift deltas for the channels `rows`, zero at start. */
  | { kind: 'rows'; rows: tf.Tensor1D; scale: tf.Variable; shift?: tf.Variable }
  /** Full fine-tuning: scale and shift themselves train. */
  | { kind: 'full'; scale: tf.Variable; shift?: tf.Variable };

/** Effective scale and shift: frozen values moved by the trained deltas. */
export function effectiveAffine(
  scale: Tensor, shift: Tensor | undefined, training: NormTraining,
): { scale: Tensor; shift: Tensor | undefined } {
  switch (training.kind) {
    case 'frozen':
      return { scale, shift };
    case 'full':
      return { scale: training.scale, shift: training.shift ?? shift };
    case 'rows': {
      const d = scale.shape[0];
      const s = indexAdd(scale, 0, training.rows, training.scale);
      const b = training.shift ? indexAdd(shift ?? tf.zeros([d]), 0, training.rows, training.shift) : shift;
      return { scale: s, shift: b };
    }
  }
}

/** The trainable tensors, in the order the norm ops return their gradients. */
export function trainableOf(training: NormTraining): Tensor[] {
  if (training.kind === 'frozen') return [];
  return training.shift ? [training.scale, training.shift] : [training.scale];
}

/**
 * Gradients of the trainable scale/shift given dy and the normalised input xhat,
 * both flattened to [N, d] (or [N, r] when only the selected channels were kept).
 */
export function affineGrads(training: NormTraining, dy2: Tensor, xhatKept: Tensor): Tensor[] {
  if (training.kind === 'frozen') return [];
  const dyKept = training.kind === 'rows' ? tf.gather(dy2, training.rows, 1) : dy2;
  const grads = [tf.sum(tf.mul(dyKept, xhatKept), 0)];
  if (training.shift) grads.push(tf.sum(dyKept, 0));
  return grads;
}

/** What of xhat the scale gradient needs: the selected channels, or all of them. */
export function xhatToKeep(training: NormTraining, xhat2: Tensor): Tensor | undefined {
  if (training.kind === 'frozen') return undefined;
  return training.kind === 'rows' ? tf.gather(xhat2, training.rows, 1) : xhat2;
}
