/**
 * The engine's reverse-mode tape. tfjs's own (`tf.grads`) keeps every tensor a kernel's
 * gradient might need and every intermediate gradient until the whole backward pass
 * ends (it runs inside one tidy scope). This tape behaves like PyTorch's autograd:
 *  - an op is recorded only when one of its inputs requires a gradient;
 *  - it keeps exactly the tensors its backward named (`save`), nothing else;
 *  - during backward, a node's saved tensors and its output gradient are released as
 *    soon as the node has run, so memory falls as backward proceeds.
 * Memory accounting (paper C.3) is therefore about what a method needs, not about the
 * framework's bookkeeping. `checkpoint` trades memory for time: a region (a transformer
 * block) keeps only its input and is recomputed in backward. Ops written with `op()` also work under tfjs's tape (then
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
  /**
   * A tape that only records which tensors flow where, keeping nothing (the first run
   * of a checkpointed region, whose backward recomputes what it needs).
   */
  constructor(readonly keeps = true) {}
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
      if (needed && tape.keeps) saved = tensors.map((t) => tf.keep(share(t)));
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
 * Run `tape` backward from the gradients in `seeds` (by output id; taken over). Each
 * node's saved tensors and output gradient are released as soon as it has run.
 * Returns the gradients that reached `wanted` ids; every other gradient is disposed.
 */
function runBackward(tape: Tape, seeds: Map<number, Tensor>, wanted: Set<number>): Map<number, Tensor> {
  const grads = seeds;
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
  for (const [id, g] of grads) {
    if (!wanted.has(id)) {
      g.dispose();
      grads.delete(id);
    }
  }
  return grads;
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
  const seeds = new Map<number, Tensor>();
  if (tape.tracked.has(loss.id)) seeds.set(loss.id, tf.onesLike(loss));
  const grads = runBackward(tape, seeds, new Set(params.map((p) => p.id)));
  loss.dispose();
  return { value, grads: params.map((p) => grads.get(p.id) ?? tf.zerosLike(p)) };
}

/**
 * Activation checkpointing (Chen et al., "Training deep nets with sublinear memory
 * cost"; PyTorch's torch.utils.checkpoint): `y = region(x)` recorded as ONE node that
 * keeps only x. The region (a transformer block) runs once in the forward pass keeping
 * nothing, and again in backward on a tape of its own, whose backward then runs from dy:
 * at any time only one block's activations are alive, instead of every block's. The
 * recomputation runs the same kernels on the same values in the same order, so the
 * gradients equal those without checkpointing bit for bit, provided the region is
 * deterministic: `region(x, replay)` must use only x and trainable variables (no other
 * tensor that carries a gradient) and, when `replay` is true, draw the same random
 * numbers as the first time (the caller restores its dropout stream).
 * With no engine tape, or when nothing in the region needs a gradient, the region just runs.
 */
export function checkpoint(x: Tensor, region: (x: Tensor, replay: boolean) => Tensor): Tensor {
  const outer = active;
  if (!outer) return region(x, false);
  // A scratch tape sees what the outer one tracks, so the region takes the same paths
  // (which inputs need gradients) as it would uncheckpointed; it keeps nothing.
  const scratch = new Tape(false);
  for (const id of outer.tracked) scratch.tracked.add(id);
  active = scratch;
  let y: Tensor;
  try {
    y = tf.tidy(() => region(x, false));
  } finally {
    active = outer;
  }
  // What the region reads that carries a gradient from outside: x and the variables.
  const made = new Set(scratch.nodes.map((n) => n.outputId));
  const externals: Tensor[] = [];
  const seen = new Set<number>();
  for (const n of scratch.nodes) {
    for (const t of n.inputs) {
      if (seen.has(t.id) || made.has(t.id) || !outer.tracked.has(t.id)) continue;
      seen.add(t.id);
      if (t !== x && !(t instanceof tf.Variable)) {
        throw new Error('internal: a checkpointed region reads a tensor carrying a gradient other than its input and variables');
      }
      externals.push(t);
    }
  }
  if (externals.length === 0) return y;
  const xTracked = outer.tracked.has(x.id);
  const kept = tf.keep(share(x));
  outer.nodes.push({
    inputs: externals,
    outputId: y.id,
    saved: [kept],
    backward: (dy, [xs]) => {
      const inner = new Tape();
      for (const t of externals) if (t !== x) inner.tracked.add(t.id);
      if (xTracked) inner.tracked.add(xs.id);
      const previous = active;
      active = inner;
      let out: Tensor;
      try {
        out = tf.tidy(() => region(xs, true));
      } catch (err) {
        for (const n of inner.nodes) tf.dispose(n.saved);
        throw err;
      } finally {
        active = previous;
      }
      // dy is the outer tape's (released by it): the inner pass gets its own handle.
      const seeds = new Map<number, Tensor>();
      if (inner.tracked.has(out.id)) seeds.set(out.id, share(dy));
      const wanted = new Set(externals.map((t) => (t === x ? xs.id : t.id)));
      const grads = runBackward(inner, seeds, wanted);
      out.dispose();
      return externals.map((t) => grads.get(t === x ? xs.id : t.id) ?? null);
    },
  });
  outer.tracked.add(y.id);
  return y;
}
