/**
 * One document's state: its text checked exactly as `spruft check` and a run check it
 * (runner/src/config/load.ts), kept for completion, hover, code actions and symbols.
 */
import { fileURLToPath } from 'node:url';
import { dirname } from 'node:path';
import { checkRunConfigText, configSyntaxOf, schemaAt, type ParsedRunConfig } from '../../protocol/configValidate';
import type { ConfigDiagnostic } from '../../protocol/diagnostics';
import { loadRunConfig } from '../../runner/src/config/load';
import type { TrainingMemoryEstimate } from '../../runner/src/config/memoryEstimate';
import type { ModelInspector } from '../../runner/src/config/semantic';
import type { RunConfigSettings } from '../../protocol/languageServer';

export interface Analysis {
  uri: string;
  version: number;
  /** The file's path, for file: documents. */
  path?: string;
  parsed: ParsedRunConfig;
  diagnostics: ConfigDiagnostic[];
  /** Training memory per method, from layer shapes (empty until the model reads). */
  estimates: TrainingMemoryEstimate[];
}

export function filePathOf(uri: string): string | undefined {
  if (!uri.startsWith('file:')) return undefined;
  try {
    return fileURLToPath(uri);
  } catch {
    return undefined;
  }
}

export function baseDirOf(uri: string): string | undefined {
  const path = filePathOf(uri);
  return path ? dirname(path) : undefined;
}

/** Codes whose findings VS Code's JSON support already shows for `*.spruft.json` from the JSON Schema. */
const JSON_SCHEMA_CODES = new Set(['unknown-key', 'type', 'out-of-range', 'invalid-value', 'too-few-items', 'duplicate-item', 'yaml-syntax', 'mutually-exclusive']);

function shownByJsonSchema(d: ConfigDiagnostic): boolean {
  if (JSON_SCHEMA_CODES.has(d.code)) return true;
  if (d.code !== 'missing-key') return false;
  const key = d.path[d.path.length - 1];
  return typeof key === 'string' && (schemaAt(d.path.slice(0, -1))?.required ?? []).includes(key);
}

export async function analyze(
  uri: string,
  version: number,
  text: string,
  languageId: string,
  settings: RunConfigSettings,
  inspect: ModelInspector,
): Promise<Analysis> {
  const path = filePathOf(uri);
  let parsed: ParsedRunConfig;
  let diagnostics: ConfigDiagnostic[];
  let estimates: TrainingMemoryEstimate[] = [];
  if (path) {
    const loaded = await loadRunConfig(path, text, {
      semantic: settings.semantic,
      inspect,
      ...(settings.memoryLimitGb > 0 ? { memoryLimitBytes: settings.memoryLimitGb * 1024 ** 3 } : {}),
    });
    parsed = loaded.parsed;
    diagnostics = loaded.diagnostics;
    estimates = loaded.estimates;
  } else {
    // Unsaved documents have no folder that paths could start from: schema checks only.
    const checked = checkRunConfigText(text, languageId === 'json' ? 'json' : configSyntaxOf(uri));
    parsed = checked.parsed;
    diagnostics = checked.diagnostics;
  }
  if (parsed.syntax === 'json') diagnostics = diagnostics.filter((d) => !shownByJsonSchema(d));
  return { uri, version, ...(path ? { path } : {}), parsed, diagnostics, estimates };
}
