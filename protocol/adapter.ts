/**
 * The adapter file format (docs/adapter-format.md): `adapter_config.json` +
 * `adapter_model.safetensors` in a folder (a run folder's `adapter/`). Versioned; the
 * runner refuses versions it does not know with a message saying which it reads.
 *
 * Tensor names in `adapter_model.safetensors`:
 *   spruft: `<layer>.spruft_W_f`: the selected rows, in the base tensor's own layout with
 *           its row axis (`rowAxis`) cut to r: a PyTorch Linear [r, d_in], Conv2d
 *           [r, c_in, kh, kw], depthwise [r, 1, kh, kw]; a Keras Dense kernel [d_in, r],
 *           Conv2D [kh, kw, c_in, r]; a norm's scale [r]. So `W[idx] += W_f` along
 *           `rowAxis` (PyTorch: `W[idx] += W_f`) merges it (paper eq. 5).
 *           `<layer>.spruft_b_f` [r] (selected bias / shift entries, when trained),
 *           `<layer>.spruft_W_dep` (dependency columns, appendix B): the base layout with
 *           its input axis (`columnAxis`) cut to c.
 *   lora:   PEFT's names and shapes, `base_model.model.<layer>.lora_A.weight` (Linear
 *           [r, d_in], Conv2d [r, c_in, kh, kw]) and `base_model.model.<layer>.lora_B.weight`
 *           (Linear [d_out, r], Conv2d [c_out, r, 1, 1]); the trained head under
 *           `base_model.model.<weight name>` (PEFT's `modules_to_save`). `adapter_config.json`
 *           then holds PEFT's LoraConfig keys only, so `PeftModel.from_pretrained` reads it;
 *           this format's own record goes to `spruft_adapter.json` beside it.
 *   dora:   LoRA's, plus `base_model.model.<layer>.lora_magnitude_vector` [d_out]; PEFT's
 *           LoraConfig with `use_dora: true`.
 *   vera:   `base_model.model.<layer>.vera_lambda_b` [d_out] and `.vera_lambda_d` [r], and
 *           once `base_model.vera_A` [r, d_in max] and `base_model.vera_B` [d_out max, r]
 *           (each layer reads their top-left slice); PEFT's VeraConfig in
 *           `adapter_config.json`, the record beside it as for LoRA.
 *   full:   `<weight name>` (the whole tuned tensor)
 *   spruft, full: the tuned classifier head under its own weight names.
 *
 * Version 1 stored conv W_f as [r, kh, kw, c_in] whatever the base; it is still read.
 */
import type { LayerKind, MethodName } from './results';

export const ADAPTER_FORMAT = 'spruft-adapter';
export const ADAPTER_VERSION = 2;
/** Versions this runner reads. */
export const ADAPTER_VERSIONS_READ: readonly number[] = [1, 2];
export const ADAPTER_CONFIG_FILE = 'adapter_config.json';
/** Where a LoRA adapter keeps this format's record (its `adapter_config.json` is PEFT's). */
export const ADAPTER_RECORD_FILE = 'spruft_adapter.json';
export const ADAPTER_WEIGHTS_FILE = 'adapter_model.safetensors';

export const adapterTensorName = {
  spruftRows: (layer: string) => `${layer}.spruft_W_f`,
  spruftBias: (layer: string) => `${layer}.spruft_b_f`,
  spruftDependency: (layer: string) => `${layer}.spruft_W_dep`,
  loraA: (layer: string) => `base_model.model.${layer}.lora_A.weight`,
  loraB: (layer: string) => `base_model.model.${layer}.lora_B.weight`,
  /** A whole tensor PEFT restores through `modules_to_save` (the classifier head). */
  peftSaved: (weightName: string) => `base_model.model.${weightName}`,
  /** VeRA's trained vectors: lambda_b [d_out], lambda_d [r]. */
  veraLambdaB: (layer: string) => `base_model.model.${layer}.vera_lambda_b`,
  veraLambdaD: (layer: string) => `base_model.model.${layer}.vera_lambda_d`,
  /** VeRA's shared frozen projections, once per adapter (with `save_projection`): A [r, d_in max], B [d_out max, r]. */
  veraA: () => 'base_model.vera_A',
  veraB: () => 'base_model.vera_B',
  /** DoRA's magnitude [d_out] beside LoRA's A and B (PEFT keeps the pre-refactor name, no `.weight`). */
  doraMagnitude: (layer: string) => `base_model.model.${layer}.lora_magnitude_vector`,
} as const;

/** The keys of PEFT's LoraConfig that a LoRA adapter's `adapter_config.json` holds. */
export interface PeftLoraConfig {
  peft_type: 'LORA';
  task_type: string | null;
  r: number;
  lora_alpha: number;
  lora_dropout: number;
  target_modules: string[];
  /** Layers whose rank is below `r` (capped at d_out). */
  rank_pattern: Record<string, number>;
  bias: 'none';
  fan_in_fan_out: boolean;
  modules_to_save: string[] | null;
  base_model_name_or_path: string;
  inference_mode: boolean;
  init_lora_weights: boolean;
  /** DoRA (PEFT's `LoraConfig(use_dora=True)`): the magnitude vector beside A and B. */
  use_dora?: boolean;
}

/** The keys of PEFT's VeraConfig that a VeRA adapter's `adapter_config.json` holds. */
export interface PeftVeraConfig {
  peft_type: 'VERA';
  task_type: string | null;
  r: number;
  target_modules: string[];
  /** Seed of the shared projections (this engine's generator, not torch's: see save_projection). */
  projection_prng_key: number;
  /** Whether `base_model.vera_A` / `vera_B` are in the file; PEFT can only rebuild them from the seed with torch's generator. */
  save_projection: boolean;
  vera_dropout: number;
  d_initial: number;
  fan_in_fan_out: boolean;
  bias: 'none';
  modules_to_save: string[] | null;
  base_model_name_or_path: string;
  inference_mode: boolean;
  init_weights: boolean;
}

export interface AdapterLayer {
  name: string;
  kind: LayerKind;
  /** Shape of the frozen weight this adapter attaches to, in the engine's layout. */
  weightShape: number[];
  /** Version 2: the base weight's name and shape in the model's own files (e.g. `vit.encoder.layer.0.output.dense.weight`, [out, in]). */
  weightName?: string;
  fileShape?: number[];
  /** The bias (norms: shift) that `spruft_b_f` adds to, by its file name. */
  biasName?: string;
  /** Version 2: the axis of `weightName` that indexes rows (PyTorch: 0; Keras kernels: the last). */
  rowAxis?: number;
  /** Version 2, dependency columns: the axis of `weightName` that indexes input features. */
  columnAxis?: number;
  /** spruft: selected output rows (neurons / channels), ascending. */
  rows?: number[];
  /** spruft with dependency groups: selected input columns. */
  columns?: number[];
  /** Shapes of the adapter tensors by tensor name. */
  tensors: Record<string, number[]>;
  /** Importance scores of the selected rows, for the dashboard. */
  scores?: number[];
}

export interface BaseModelRef {
  path: string;
  architecture: string;
  /** sha256 over weight names, shapes and contents of the frozen model. */
  fingerprint: string;
  /** The classifier's output count after head replacement. */
  numLabels?: number;
  labelNames?: string[];
  /** transformers' `problem_type` of the head (`regression` for a one-output regression head). */
  problemType?: 'single_label_classification' | 'regression';
  /** How the backbone was cut/extended (`model.cutAt`). */
  cutAt?: string;
}

export interface AdapterConfig extends Partial<PeftLoraConfig> {
  format: typeof ADAPTER_FORMAT;
  version: number;
  method: MethodName;
  baseModel: BaseModelRef;
  /** Importance metric that chose the rows (spruft). */
  metric?: string;
  rank?: number;
  ratio?: number;
  freezeAttention: boolean;
  layers: AdapterLayer[];
  /** Weight names trained whole (classifier head, `full` weights). */
  fullTensors: string[];
  /** The resolved training section of the run config that produced this adapter. */
  training: Record<string, unknown>;
  createdAt: string;
  // LoRA adapters also carry PEFT's LoraConfig keys (PeftLoraConfig).
}
