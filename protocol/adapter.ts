/**
 * The adapter file format: `adapter_config.json` + `adapter_model.safetensors` in a
 * folder (a run folder's `adapter/`). Versioned; the runner refuses versions it does
 * not know with a message saying which it reads.
 *
 * Tensor names in `adapter_model.safetensors`:
 *   spruft: `<layer>.spruft_W_f` [r, d_in] (conv: [r, kh, kw, c_in]; norm: scale rows [r]),
 *           `<layer>.spruft_b_f` [r] (selected bias / shift entries, when trained),
 *           `<layer>.spruft_W_dep` [d_out, c] (dependency columns, appendix B;
 *           conv: [c_out, kh, kw, c])
 *   lora:   PEFT's names, `base_model.model.<layer>.lora_A.weight` [r, d_in] and
 *           `base_model.model.<layer>.lora_B.weight` [d_out, r]
 *   full:   `<weight name>` (the whole tuned tensor)
 *   every method: the tuned classifier head under its own weight names.
 */
import type { LayerKind, MethodName } from './results';

export const ADAPTER_FORMAT = 'spruft-adapter';
export const ADAPTER_VERSION = 1;
export const ADAPTER_CONFIG_FILE = 'adapter_config.json';
export const ADAPTER_WEIGHTS_FILE = 'adapter_model.safetensors';

export const adapterTensorName = {
  spruftRows: (layer: string) => `${layer}.spruft_W_f`,
  spruftBias: (layer: string) => `${layer}.spruft_b_f`,
  spruftDependency: (layer: string) => `${layer}.spruft_W_dep`,
  loraA: (layer: string) => `base_model.model.${layer}.lora_A.weight`,
  loraB: (layer: string) => `base_model.model.${layer}.lora_B.weight`,
} as const;

export interface AdapterLayer {
  name: string;
  kind: LayerKind;
  /** Shape of the frozen weight this adapter attaches to. */
  weightShape: number[];
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
  /** How the backbone was cut/extended (`model.cutAt`). */
  cutAt?: string;
}

export interface AdapterConfig {
  format: typeof ADAPTER_FORMAT;
  version: typeof ADAPTER_VERSION;
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
  /** PEFT-compatible keys for LoRA adapters. */
  peft_type?: 'LORA';
  r?: number;
  lora_alpha?: number;
  lora_dropout?: number;
  target_modules?: string[];
  bias?: 'none';
  fan_in_fan_out?: boolean;
  modules_to_save?: string[];
  base_model_name_or_path?: string;
  inference_mode?: boolean;
}
