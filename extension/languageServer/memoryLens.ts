/**
 * The memory estimate the README promises, in the editor: a code lens above `method:`
 * with each method's estimated training peak (weights + trainable parameters, gradients
 * and Adam state + activations, from layer shapes: runner/src/config/memoryEstimate.ts),
 * labelled an estimate. The dashboard shows the measured figures once a run trains.
 */
import type { CodeLens } from 'vscode-languageserver/node';
import { rangeOfPath, findEntry, type ParsedRunConfig } from '../../protocol/configValidate';
import { formatBytes, formatCount } from '../../protocol/format';
import type { TrainingMemoryEstimate } from '../../runner/src/config/memoryEstimate';

export function memoryCodeLenses(parsed: ParsedRunConfig, estimates: TrainingMemoryEstimate[]): CodeLens[] {
  if (estimates.length === 0) return [];
  const at = findEntry(parsed, ['method']) ? rangeOfPath(parsed, ['method'], 'key') : { start: { line: 0, character: 0 }, end: { line: 0, character: 0 } };
  const line = { start: { line: at.start.line, character: 0 }, end: { line: at.start.line, character: 0 } };
  const parts = estimates.map((e) => `${e.method} ${formatBytes(e.peakBytes)} (${formatCount(e.trainableParams)} trainable)`);
  return [{ range: line, command: { title: `$(dashboard) Estimated training memory: ${parts.join(' · ')}`, command: '' } }];
}
