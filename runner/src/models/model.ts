/**
 * The model contract the engine trains: adaptable layers (in forward order) plus the
 * frozen tensors that are not adaptable (embeddings, class token...), a forward pass,
 * and the mapping back to the weight files it came from (for export and merge).
 */
import { createHash } from 'node:crypto';
import type { InspectResult } from '../../../protocol/results';
import { SpruftError } from '../errors';
import type { ChannelGroup } from './channels/types';
import { checkpoint } from '../tensor/autodiff';
import { Rng } from '../tensor/rng';
import { tf, type Tensor } from '../tensor/tf';
import { dims } from '../tensor/ops/grad';
import { AdaptableLayer, type ForwardContext } from './layer';
import { checkWeights, type FileLayout, type HfArchitectureSpec, type HfLayerSpec } from './hfSpec';

export type { FileLayout };

export type ModelInput =
  | { kind: 'image'; height: number; width: number; channels: number }
  /** `tokenTypes` > 1: the model reads token type ids packed into its ids (models/tokenTypes.ts). */
  | { kind: 'tokens'; vocabSize: number; maxLength: number; tokenTypes?: number };

/** A weight of the model files: its name there, the tensor, and its file layout. */
export interface WeightEntry {
  fileName: string;
  layout: FileLayout;
  get: () => Tensor;
  set: (t: Tensor) => void;
}

export function toEngineLayout(t: Tensor, layout: FileLayout): Tensor {
  if (layout === 'oihw') return tf.transpose(t, [2, 3, 1, 0]);
  if (layout === 'c1hw') return tf.transpose(t, [2, 3, 0, 1]);
  if (layout === 'io') return tf.transpose(t);
  return t;
}

export function toFileLayout(t: Tensor, layout: FileLayout): Tensor {
  if (layout === 'oihw') return tf.transpose(t, [3, 2, 0, 1]);
  if (layout === 'c1hw') return tf.transpose(t, [2, 3, 0, 1]);
  if (layout === 'io') return tf.transpose(t);
  return t;
}

/** Raw weights as loaded from files, before they become tensors. */
export type RawWeights = Map<string, { shape: number[]; data: Float32Array }>;

/** Take a weight out of the raw map as a tensor in engine layout, or fail naming it. */
export function takeWeight(raw: RawWeights, name: string, where: string, layout: FileLayout = 'same', expectedRank?: number): Tensor {
  const w = raw.get(name);
  if (!w) throw new SpruftError('MODEL_INVALID', `weight "${name}" is missing`, where);
  if (expectedRank !== undefined && w.shape.length !== expectedRank) {
    throw new SpruftError('MODEL_INVALID', `weight "${name}" has shape [${w.shape}], expected ${expectedRank} dimensions`, where);
  }
  return tf.tidy(() => toEngineLayout(tf.tensor(w.data, w.shape), layout));
}

/**
 * Check raw weights against an architecture's spec (hfSpec.ts: missing, extra and
 * mis-shaped tensors are one MODEL_INVALID error naming each) and return them under the
 * names the model reads (a bare base model's tensors get the task model's prefix;
 * ignored tensors are dropped), with the optional ones that are absent.
 */
export function checkedWeights(spec: HfArchitectureSpec, raw: RawWeights, where: string): { raw: RawWeights; absent: Set<string> } {
  const { fileNames, absent } = checkWeights(spec, new Map([...raw].map(([n, w]) => [n, w.shape])), where);
  const out: RawWeights = new Map();
  for (const [name, inFile] of fileNames) out.set(name, raw.get(inFile)!);
  return { raw: out, absent };
}

/**
 * The adaptable layer a spec declares, its weights taken from the checked raw map (in
 * engine layout). An optional layer that is absent is initialised as transformers
 * initialises new modules: normal(0, 0.02) weights, zero bias (`init` draws them).
 */
export function specLayer(spec: HfLayerSpec, raw: RawWeights, where: string, init: (shape: number[]) => Float32Array, extra: { eps?: number } = {}): AdaptableLayer {
  const bias = spec.bias ? [spec.kind === 'conv2d' ? spec.shape[3] : spec.shape[0]] : undefined;
  const fresh = !raw.has(`${spec.name}.weight`);
  if (fresh && !spec.optional) throw new SpruftError('MODEL_INVALID', `weight "${spec.name}.weight" is missing`, where);
  const isNorm = spec.kind === 'layernorm' || spec.kind === 'rmsnorm';
  return new AdaptableLayer({
    name: spec.name, kind: spec.kind, head: spec.head, eps: extra.eps,
    weight: fresh ? (isNorm ? tf.ones(spec.shape) : tf.tensor(init(spec.shape), spec.shape)) : takeWeight(raw, `${spec.name}.weight`, where, spec.layout),
    bias: bias ? (fresh ? tf.zeros(bias) : takeWeight(raw, `${spec.name}.bias`, where)) : undefined,
  });
}

export function takeOptional(raw: RawWeights, name: string, where: string, layout: FileLayout = 'same'): Tensor | undefined {
  return raw.has(name) ? takeWeight(raw, name, where, layout) : undefined;
}

/**
 * One stage of a forward pass (a transformer block, a graph node) in its own scope: what
 * the stage does not return is freed when it ends, and so is its input once `release` is
 * true (the input was made by the model, not handed in). The tapes keep their own
 * references to what backward needs, so activations live as briefly as under PyTorch
 * instead of until the whole forward pass ends (tfjs's one-scope default): the inference
 * peak (mem_M, paper C.3) and the training peak are those of the work, not of the scope.
 */
export function stage(input: Tensor, f: () => Tensor, release = true): Tensor {
  const out = tf.tidy(f);
  if (release && out !== input) input.dispose();
  return out;
}

/**
 * One transformer block `body(x)` in its stage. With `ctx.checkpointBlocks` it is an
 * activation-checkpointed region (tensor/autodiff.ts `checkpoint`): backward keeps only
 * the block's input and recomputes the rest, its dropout masks drawn again from the
 * stream's state at the block's start, so the gradients are those of the plain block.
 */
export function block(h: Tensor, ctx: ForwardContext, body: (x: Tensor, ctx: ForwardContext) => Tensor): Tensor {
  return stage(h, () => {
    if (!ctx.checkpointBlocks) return body(h, ctx);
    const start = ctx.dropoutRng?.state();
    return checkpoint(h, (x, replay) => {
      if (!replay) {
        // The masks of this run are not kept (nothing is): counted in a scratch context.
        return body(x, { ...ctx, dropoutMaskBytes: 0 });
      }
      return body(x, { ...ctx, dropoutRng: start ? new Rng(start) : undefined, dropoutMaskBytes: 0 });
    });
  });
}

export abstract class Model {
  abstract readonly architecture: string;
  abstract readonly input: ModelInput;
  /** Every adaptable layer, in forward order. */
  abstract readonly layers: AdaptableLayer[];
  /** Logits: [B, labels] for classifiers, [B, T, vocab] for language models. */
  abstract forward(x: Tensor, ctx: ForwardContext): Tensor;
  /** Every frozen weight with its file name and layout (export, fingerprint, merge). */
  abstract weightEntries(): WeightEntry[];
  /** The config written next to exported weights (config.json or model.json topology). */
  abstract exportConfig(): Record<string, unknown>;

  /**
   * Frozen tensors outside the adaptable layers (embeddings, class token, position
   * embeddings): left alone by the parameter-efficient methods, trained by `full`.
   */
  extraWeights(): WeightEntry[] {
    return [];
  }

  constructor(
    readonly name: string,
    readonly format: 'hf' | 'tfjs-layers',
    readonly sourcePath: string,
  ) {}

  /**
   * A causal LM's LM head (logits over the vocabulary), when the model is one: the
   * training loss then applies it itself, chunk by chunk over the tokens, to the hidden
   * state `lmHeadInput` returns (engine/loss.ts `modelLoss`), instead of forming all logits.
   */
  get lmHead(): AdaptableLayer | undefined {
    return undefined;
  }

  /** The forward pass up to `lmHead`: the hidden state [B, T, d] the LM head reads. */
  lmHeadInput(_x: Tensor, _ctx: ForwardContext): Tensor {
    throw new SpruftError('INTERNAL', `${this.architecture} has no LM head`, this.sourcePath);
  }

  /** The classification head, when the model has one. */
  get head(): AdaptableLayer | undefined {
    return this.layers.find((l) => l.head);
  }

  get numLabels(): number | undefined {
    return this.head?.dOut;
  }

  labelNames: string[] | undefined;

  /** The head's transformers `problem_type` when a run set it (`head.problemType`); written to config.json on export. */
  problemType: 'single_label_classification' | 'regression' | undefined;

  /**
   * The token id that pads a batch (text models that read padded batches: attention masks,
   * the last real token). Set from config.json's pad_token_id; the data side sets the id of
   * the tokenizer it encodes with, when that differs.
   */
  padTokenId: number | undefined;

  /**
   * How each weight was stored in the folder it came from (F32, F16, BF16), by file name;
   * an export writes each weight back so. Unset for models built in memory.
   */
  storedDtypes: Map<string, 'F32' | 'F16' | 'BF16'> | undefined;

  /** Replace the classifier with a new one for `numLabels` labels (normal(0, 0.02), bias 0). */
  replaceHead(numLabels: number, rng: Rng): void {
    const head = this.head;
    if (!head) throw new SpruftError('UNSUPPORTED', `${this.architecture} has no classification head to replace`, this.sourcePath);
    const dIn = dims(head.weight)[1];
    const data = rng.fillNormal(new Float32Array(numLabels * dIn), 0.02);
    head.resetTraining();
    tf.dispose([head.weight, ...(head.bias ? [head.bias] : [])]);
    head.weight = tf.tensor(data, [numLabels, dIn]);
    head.bias = tf.zeros([numLabels]);
    this.onHeadReplaced(numLabels);
  }

  /** Architecture hook: update config (num_labels...) after the head changed. */
  protected onHeadReplaced(_numLabels: number): void {}

  /**
   * The channel groups of parameter dependency (paper appendix B), for
   * `spruft.dependency`; undefined where the architecture does not describe them.
   */
  dependencies(): ChannelGroup[] | undefined {
    return undefined;
  }

  get totalParams(): number {
    return this.weightEntries().reduce((s, e) => s + e.get().size, 0);
  }

  /** Bytes the frozen weights take on the backend. */
  get weightBytes(): number {
    return this.weightEntries().reduce((s, e) => s + e.get().size * 4, 0);
  }

  /**
   * sha256 over names, shapes and values of the frozen weights of the backbone (the
   * head is left out: it is replaced per task and saved with each adapter). Adapters
   * record it, so that one is never applied to another base model.
   */
  fingerprint(): string {
    const hash = createHash('sha256');
    const head = this.head;
    const entries = this.weightEntries()
      .filter((e) => !head || (e.get() !== head.weight && e.get() !== head.bias))
      .sort((a, b) => (a.fileName < b.fileName ? -1 : 1));
    for (const e of entries) {
      const t = e.get();
      hash.update(`${e.fileName}:${t.shape.join('x')};`);
      const data = t.dataSync() as Float32Array;
      hash.update(new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
    }
    return hash.digest('hex');
  }

  inspect(): InspectResult {
    const layerSet = new Set(this.layers);
    const adaptable = this.layers.map((l) => ({
      name: l.name, kind: l.kind, shape: dims(l.weight), params: l.params, dOut: l.dOut, dIn: l.dIn, attention: l.attention, head: l.head,
    }));
    const others = this.weightEntries()
      .filter((e) => ![...layerSet].some((l) => e.get() === l.weight || e.get() === l.bias || e.get() === l.movingMean || e.get() === l.movingVariance))
      .map((e) => ({ name: e.fileName, kind: (/embed/.test(e.fileName) ? 'embedding' : 'other') as 'embedding' | 'other', shape: dims(e.get()), params: e.get().size }));
    return {
      name: this.name,
      architecture: this.architecture,
      format: this.format,
      params: this.totalParams,
      layers: [...adaptable, ...others],
    };
  }

  dispose(): void {
    for (const e of this.weightEntries()) e.get().dispose();
    for (const l of this.layers) l.resetTraining();
  }
}
