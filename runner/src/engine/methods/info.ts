/**
 * The methods without tensors, by name: each method's `config.ts` (flags, variant label,
 * memory formula). Free of tfjs, for the config checks and the language server; the
 * engine's registry (index.ts) adds attaching and adapter I/O to each.
 */
import { METHODS, type ResolvedRunConfig } from '../../../../protocol/config';
import type { MethodName } from '../../../../protocol/results';
import { SpruftError } from '../../errors';
import { fullInfo } from './full/config';
import { headInfo } from './head/config';
import { loraInfo } from './lora/config';
import type { MethodInfo } from './method';
import { spruftInfo } from './spruft/config';
import { doraInfo } from './dora/config';
import { veraInfo } from './vera/config';

/** Every method's info, by name (the names: protocol/config.ts `METHODS`). */
export const METHOD_INFO: { readonly [M in MethodName]: MethodInfo } = { spruft: spruftInfo, lora: loraInfo, full: fullInfo, head: headInfo, vera: veraInfo, dora: doraInfo };

/** The info of `method`; a clear error for a name that is none. */
export function methodInfo(method: string): MethodInfo {
  if (!Object.hasOwn(METHOD_INFO, method)) throw new SpruftError('CONFIG_INVALID', `unknown method "${method}": the methods are ${METHODS.join(', ')}`);
  return METHOD_INFO[method as MethodName];
}

/**
 * The first target `method` cannot adapt (its `onlyKinds`), with the message that refuses it;
 * `spruft check` and attaching both ask here.
 */
export function unadaptableTarget<L extends { name: string; kind: string }>(method: MethodName, targets: readonly L[]): { layer: L; message: string } | undefined {
  const only = methodInfo(method).onlyKinds;
  const layer = only && targets.find((l) => !(only as readonly string[]).includes(l.kind));
  if (!layer) return undefined;
  return {
    layer,
    message: `${method} adapts ${only.join('/')} layers only, but target layer "${layer.name}" is a ${layer.kind} layer: narrow \`targets\` (e.g. \`layerTypes: [linear]\` or \`exclude\`), or use another method for it`,
  };
}

/** The variant label: the method's, plus " FA" where `targets.freezeAttention` narrowed its targets. */
export function variantOf(method: MethodName, config: ResolvedRunConfig): string {
  const m = methodInfo(method);
  const label = m.variant(config);
  return config.targets.freezeAttention && m.usesTargets ? `${label} FA` : label;
}
