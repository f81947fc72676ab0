/**
 * The engine's reverse-mode tape. tfjs's own (`tf.grads`) keeps every tensor a kernel's
 * gradient might need and every intermediate gradient until the whole backward pass
 * ends (it runs inside one tidy scope). This tape behaves like PyTorch's autograd:
 *  - an op is recorded only when one of its inputs requires a gradient;
 *  - it keeps exactly the tensors its backward named (`save`), nothing else;
 *  - during backward, a node's saved tensors and its output gradient are released as
 *    soon as the node has run, so memory falls as backward proceeds.
 * Memory accounting (paper C.3) is therefore about what a method needs, not about the
 * framework's bookkeeping. Ops written with `op()` also work under tfjs's tape (then
 * they become one tf.customGrad node), so the importance metrics may use either.
 */
import { liveBufferBytes } from './memory';
import { tf, type Tensor } from './tf';

interface TapeNode {
  inputs: Tensor[];
  /** The output's id: its gradient is looked up by it (the tensor itself may be gone). */
  outputId: number;
  saved: Tensor[];
  backward: (dy: Tensor, saved: Tensor[]) => Array<Tensor | null>;
}

class Tape {
  readonly nodes: TapeNode[] = [];
  /** Ids of tensors whose gradient is wanted or flows to something wanted. */
  readonly tracked = new Set<number>();
  /** Bytes alive when the backward pass started (memory accounting). */
  backwardStartBytes = 0;
}

let active: Tape | undefined;

/**
 * A second handle on `t`'s data, disposed on its own: a reshape to the same shape, which
 * every backend runs as a view (reference-counted data). Not tf.clone: the wasm
 * backend's Identity kernel copies, so an input saved by three ops (the q, k and v
 * projections of one normalised input) would be kept three times.
 */
function share(t: Tensor): Tensor {
  return tf.reshape(t, t.shape);
}

/**
 * Backward functions may pass dy straight through, or give one tensor to two inputs
 * (a residual add); every returned gradient must be a tensor of its own, since each is
 * accumulated and released on its own. Duplicates become shared handles (no copy).
 */
function distinct<T extends Tensor | null>(grads: T[], dy: Tensor): T[] {
  const seen = new Set<Tensor>([dy]);
  return grads.map((g) => {
    if (g === null) return g;
    if (seen.has(g)) return share(g) as T;
    seen.add(g);
    return g;
  });
}

/** True when `t` carries a gradient on the active tape. */
export function requiresGrad(t: Tensor): boolean {
  return active !== undefined && active.tracked.has(t.id);
}

export function tapeActive(): boolean {
  return active !== undefined;
}

/**
 * An op with a hand-written backward. `inputs` are the tensors a gradient may flow to;
 * `backward(dy, saved)` returns one gradient per input (null where none is needed).
 * On the engine's tape the op is recorded when an input requires a gradient; under
 * tfjs's tape it is one customGrad node; with no tape it just runs.
 */
export function op(
  inputs: Tensor[],
  forward: (save: (tensors: Tensor[]) => void) => Tensor,
  backward: (dy: Tensor, saved: Tensor[]) => Array<Tensor | null>,
): Tensor {
  if (active) {
    const tape = active;
    const needed = inputs.some((t) => tape.tracked.has(t.id));
    let saved: Tensor[] = [];
    const output = tf.tidy(() => forward((tensors) => {
      if (needed) saved = tensors.map((t) => tf.keep(share(t)));
    }));
    if (needed) {
      tape.nodes.push({ inputs, outputId: output.id, saved, backward });
      tape.tracked.add(output.id);
    }
    return output;
  }
  // Under tfjs's tape (or none): one customGrad node; with no inputs it is cut off the tape.
  const custom = tf.customGrad((...args: Array<Tensor | ((t: Tensor[]) => void)>) => {
    const save = args[args.length - 1] as (t: Tensor[]) => void;
    return {
      value: forward(save),
      gradFunc: (dy: Tensor, saved: Tensor[]) => distinct(backward(dy, saved).map((g, i) => g ?? tf.zerosLike(inputs[i])), dy),
    };
  });
  return custom(...inputs);
}

/**
 * A composition of plain tfjs ops made into one node: its backward differentiates `f`
 * locally with tfjs's gradients (keeping `inputs`, as autograd would). For the glue code
 * of models (padding, pooling, concatenation) where no hand-written backward pays off.
 */
export function autoOp(inputs: Tensor[], f: (...xs: Tensor[]) => Tensor): Tensor {
  if (!active || !inputs.some((t) => active!.tracked.has(t.id))) {
    if (active) return tf.tidy(() => f(...inputs));
    return f(...inputs);
  }
  return op(
    inputs,
    (save) => {
      save(inputs);
      return f(...inputs);
    },
    (dy, saved) => tf.grads((...xs: Tensor[]) => f(...xs))(saved, dy),
  );
}

export interface ValueAndGrads {
  value: number;
  /** Gradient per parameter, in the order given (zeros where no gradient reached it). */
  grads: Tensor[];
}

/**
 * Evaluate `f` (which returns a scalar loss) with `params` requiring gradients, then
 * run backward. `onBackwardStart` sees the bytes alive when backward begins.
 */
export function valueAndGrads(f: () => Tensor, params: Tensor[], onBackwardStart?: (bytes: number) => void): ValueAndGrads {
  if (active) throw new Error('internal: nested valueAndGrads');
  const tape = new Tape();
  for (const p of params) tape.tracked.add(p.id);
  active = tape;
  let loss: Tensor;
  try {
    // Forward intermediates die with this scope; what backward needs was saved (kept).
    loss = tf.tidy(f);
  } catch (err) {
    active = undefined;
    for (const n of tape.nodes) tf.dispose(n.saved);
    throw err;
  }
  active = undefined;
  const value = loss.dataSync()[0];
  tape.backwardStartBytes = liveBufferBytes();
  onBackwardStart?.(tape.backwardStartBytes);
  const grads = new Map<number, Tensor>();
  if (tape.tracked.has(loss.id)) grads.set(loss.id, tf.onesLike(loss));
  const paramIds = new Set(params.map((p) => p.id));
  for (let i = tape.nodes.length - 1; i >= 0; i--) {
    const node = tape.nodes[i];
    const dy = grads.get(node.outputId);
    grads.delete(node.outputId);
    if (dy) {
      let dxs: Array<Tensor | null> = [];
      tf.tidy(() => {
        dxs = distinct(node.backward(dy, node.saved), dy).map((g) => (g ? tf.keep(g) : null));
      });
      dy.dispose();
      node.inputs.forEach((input, k) => {
        const g = dxs[k];
        if (!g) return;
        if (!tape.tracked.has(input.id)) {
          g.dispose();
          return;
        }
        const prev = grads.get(input.id);
        if (prev) {
          grads.set(input.id, tf.add(prev, g));
          tf.dispose([prev, g]);
        } else {
          grads.set(input.id, g);
        }
      });
    }
    tf.dispose(node.saved);
  }
  loss.dispose();
  const out = params.map((p) => grads.get(p.id) ?? tf.zerosLike(p));
  for (const [id, g] of grads) if (!paramIds.has(id)) g.dispose();
  return { value, grads: out };
}
