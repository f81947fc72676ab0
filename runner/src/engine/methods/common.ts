/** Helpers the method modules share: trainable variables, dropout masks, adapter layouts. */
import type { AdaptableLayer, ForwardContext } from '../../models/layer';
import { toFileLayout, type FileLayout } from '../../models/model';
import { dims } from '../../tensor/ops/grad';
import type { DropoutMask } from '../../tensor/ops/linear';
import { Rng } from '../../tensor/rng';
import { tf, type Tensor } from '../../tensor/tf';

/** A variable from an initial value; the initial tensor itself is not kept. */
export function variableOf(init: () => tf.Tensor, name: string): tf.Variable {
  return tf.tidy(() => tf.variable(init(), true, name));
}

export function zerosVariable(shape: number[], name: string): tf.Variable {
  return variableOf(() => tf.zeros(shape), name);
}

let variableCounter = 0;
/** tfjs variable names must be unique in the process: `base#n`. */
export function uniqueName(base: string): string {
  variableCounter += 1;
  return `${base}#${variableCounter}`;
}

/** A non-trainable variable holding `t` (which is released): an adapter read back. */
export function frozenVariable(t: Tensor): tf.Variable {
  const v = tf.variable(t, false);
  t.dispose();
  return v;
}

/**
 * Inverted dropout's keep mask for `x` (training only), drawn from the pass's dropout
 * stream, one draw per element; its bytes are counted as kept for backward.
 */
export function dropoutMask(x: Tensor, rate: number, ctx: ForwardContext): DropoutMask | undefined {
  if (!ctx.training || rate <= 0) return undefined;
  const rng = ctx.dropoutRng ?? new Rng(0);
  const data = new Uint8Array(x.size);
  const keep = 1 - rate;
  rng.fillBernoulli(data, keep);
  ctx.dropoutMaskBytes += data.byteLength;
  return { mask: tf.tensor(data, x.shape, 'bool'), keep };
}

/** The engine axis of a layer's weight that indexes rows (output features / channels). */
export function engineRowAxis(layer: AdaptableLayer): number {
  return layer.kind === 'conv2d' ? 3 : layer.kind === 'depthwise-conv2d' ? 2 : 0;
}

/** The engine axis of a layer's weight that indexes input features. */
export function engineColumnAxis(layer: AdaptableLayer): number {
  return layer.kind === 'conv2d' ? 2 : 1;
}

/** Where engine axis `axis` of a rank-`rank` tensor lands in the file layout (toFileLayout is the one truth). */
export function fileAxis(axis: number, rank: number, layout: FileLayout): number {
  return tf.tidy(() => dims(toFileLayout(tf.zeros(Array.from({ length: rank }, (_, i) => (i === axis ? 2 : 1))), layout)).indexOf(2));
}
