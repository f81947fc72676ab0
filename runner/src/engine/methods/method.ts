/**
 * What a fine-tuning method is to the engine: one module per method
 * (`engine/methods/<name>/`, as Hugging Face PEFT keeps one folder per tuner), listed
 * once in the registry (`engine/methods/index.ts`). A module says how the method
 * attaches to a model's layers (its layer training, models/layer.ts `Training`: forward,
 * trainables, merge, FLOPs), how its adapter is saved and read back, and its memory
 * formula (config/memoryEstimate.ts). Its config section's schema and defaults are in
 * protocol/config.ts (protocol/ imports no runner code). docs/methods.md: how to add one.
 */
import type { AdapterConfig, AdapterLayer } from '../../../../protocol/adapter';
import type { ResolvedRunConfig } from '../../../../protocol/config';
import type { MethodTraits } from '../../../../protocol/methods';
import type { LayerKind, LayerSelection, MethodName } from '../../../../protocol/results';
import type { InspectedLayer } from '../../config/targets';
import type { AdaptableLayer, LayerTraining } from '../../models/layer';
import type { FileLayout, Model } from '../../models/model';
import type { Tensor, tf } from '../../tensor/tf';

export type Trainable = { name: string; variable: tf.Variable };

export interface AttachContext {
  config: ResolvedRunConfig;
  /** The layers `targets` selects (targets.include/exclude/layerTypes/freezeAttention). */
  targets: AdaptableLayer[];
  /** Methods that `scoresRows`: the chosen rows per layer (from scoring or a stored selection). */
  selection?: LayerSelection[];
  seed: number;
}

export interface Attached {
  /** The layers the method gave a training (the head, trained by every method, apart). */
  adapted: AdaptableLayer[];
  /** Trainables beyond the layers' own (full: the embeddings), first in the trainables list. */
  extras?: Trainable[];
}

/** Writing one adapted layer into the adapter file (engine/adapterIO.ts writeAdapter). */
export interface AdapterLayerWriter {
  /** The layout of the layer's weight in the base model's files. */
  layout: FileLayout;
  /** The layer's record in adapter_config.json, to complete (rows, axes, ...). */
  entry: AdapterLayer;
  /** Store a tensor in adapter_model.safetensors under `name` (its shape goes into `entry.tensors`). */
  put(name: string, t: Tensor): void;
  /** Store a tensor shared by the layers (VeRA's projections): once in the file, in no layer's record. */
  putShared(name: string, t: Tensor): void;
}

/** Reading one adapted layer back (engine/adapterIO.ts applyAdapter). */
export interface AdapterLayerReader {
  spec: AdapterLayer;
  config: AdapterConfig;
  /** A stored tensor, as written (throws a clear error when it is missing). */
  tensor(name: string): Tensor;
  has(name: string): boolean;
  /** A tensor written in the base's file layout, back in the engine's (version 1: rows first). */
  fromFile(t: Tensor): Tensor;
}

/**
 * What a method keeps per token for one adapted linear layer of input width w, beyond
 * the frozen forward (memoryEstimate.ts): `floats` of its own, `masks` bytes of dropout
 * masks, and whether it needs the layer's input x (a buffer shared by every layer that
 * reads that x).
 */
export interface KeptPerToken {
  floats: number;
  masks: number;
  sharesInput: boolean;
}

export interface MethodMemory {
  /** Which layers train: the targets (adapters), every weight (full), or the classifier head alone. */
  scope: 'targets' | 'all' | 'head';
  /**
   * Trainable parameters on one target layer, undefined where the method does not adapt
   * it. `exact`: the transformer estimate (kinds and biases known, ranks capped);
   * otherwise the coarser estimate from headers (every target counted, biases assumed).
   */
  targetParams?(layer: InspectedLayer, config: ResolvedRunConfig, exact: boolean): number | undefined;
  /**
   * What an adapted layer keeps for backward (see KeptPerToken); required unless scope is
   * 'head'. `outputWidth` is the layer's d_out; `profile` whose bookkeeping (this engine's
   * ops, or PyTorch autograd running PEFT: config/memoryEstimate.ts EstimateProfile).
   */
  kept?(inputWidth: number, config: ResolvedRunConfig, outputWidth: number, profile: 'engine' | 'pytorch'): KeptPerToken;
  /** Floats an adapted layer keeps for backward whatever the tokens (DoRA's norm ||V||_c), by its d_out. */
  keptPerLayer?(outputWidth: number, config: ResolvedRunConfig): number;
  /** Frozen floats the method adds beside the model's weights (VeRA's shared projections), given its target layers. */
  frozenFloats?(targets: readonly InspectedLayer[], config: ResolvedRunConfig): number;
}

/**
 * What is known of a method without tensors (its `config.ts`, free of tfjs, so that the
 * language server can read it): its name, its flags, its variant label and its memory
 * formula.
 */
/** `usesTargets` (then `targets.freezeAttention` marks its variant "FA") and `section`: protocol/methods.ts METHOD_TRAITS. */
export interface MethodInfo extends MethodTraits {
  name: MethodName;
  /** Whether the method needs a row selection (importance scoring) before it attaches. */
  scoresRows: boolean;
  /**
   * The layer kinds it can adapt, where a target of another kind is refused (in `spruft
   * check` and before a run starts) rather than left frozen, as PEFT's tuner raises for it.
   */
  onlyKinds?: readonly LayerKind[];
  /** Whether it trains the model's extra weights (embeddings, positions) too. */
  trainsExtras: boolean;
  /** The variant label, e.g. "spruft r=16", "lora r=8" ("FA" is added by `variantOf`). */
  variant(config: ResolvedRunConfig): string;
  memory: MethodMemory;
}

/** A method as the engine runs it (its folder's `index.ts`): the info plus attaching and adapter I/O. */
export interface MethodModule extends MethodInfo {
  /** Give the layers their training (the head is the registry's: every method trains it). */
  attach(model: Model, o: AttachContext): Attached;
  /** Undo what `attach` did beyond the layers' trainings (which the registry resets). */
  detach?(model: Model): void;
  adapter: {
    /** Write one adapted layer's tensors and record fields. */
    writeLayer(layer: AdaptableLayer, w: AdapterLayerWriter): void;
    /** The training that an adapter's layer record and tensors give back (for evaluation or merging). */
    readLayer(layer: AdaptableLayer, r: AdapterLayerReader): LayerTraining;
    /** adapter_config.json's method fields. */
    configFields(config: ResolvedRunConfig, metric: string | undefined): Pick<AdapterConfig, 'metric' | 'rank' | 'ratio'>;
    /** The name a whole tensor (the head) is stored under; default: its weight name. */
    wholeTensorName?(weightName: string): string;
    /**
     * A config file for another library that adapter_config.json holds instead of this
     * format's record (which then goes to spruft_adapter.json), e.g. PEFT's LoraConfig.
     */
    foreignConfig?(model: Model, adapted: AdaptableLayer[], config: ResolvedRunConfig, layers: AdapterLayer[], modulesToSave: string[] | null): object;
  };
}
