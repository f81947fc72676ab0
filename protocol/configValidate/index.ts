/**
 * Reading and checking a run-config text against the one schema (protocol/config.ts):
 * `spruft check`, the runner before every run and the language server all call this,
 * so they find the same problems with the same words at the same places.
 *
 * By concern: parse.ts reads the text (with source ranges), schema.ts and walk.ts check
 * it against the schema keyword by keyword, rules.ts relates keys (read through view.ts),
 * locate.ts finds places, suggest.ts says "did you mean". Findings that need the file
 * system or the model (paths, layers, memory) are the runner's
 * (runner/src/config/semantic.ts); everything here is pure.
 */
import type { RunConfigFile } from '../config';
import type { ConfigDiagnostic } from '../diagnostics';
import type { LineIndex } from '../lineIndex';
import { parseRunConfig, type ConfigSyntax, type ParsedRunConfig } from './parse';
import { crossChecks } from './rules';
import { ConfigView } from './view';
import { walkDocument } from './walk';

export { LineIndex } from '../lineIndex';
export { configSyntaxOf, MAX_CONFIG_CHARS, parseRunConfig, type ConfigSyntax, type ParsedRunConfig } from './parse';
export { allSchemaKeys, allowedValues, formatPath, runConfigSchema, schemaAt, summaryOf, UNDERSTOOD_KEYWORDS, type ConfigPath, type SchemaNode } from './schema';
export { editDistance, nearestNames } from './suggest';
export { entryLinesRange, findEntry, locateOffset, rangeOfPath, type LocatedEntry, type OffsetLocation } from './locate';
export { ConfigView } from './view';
export { CROSS_CHECK_PATHS } from './rules';

/** Findings reported per file; the rest are counted in one last finding. */
export const MAX_DIAGNOSTICS = 200;

export interface ValidationResult {
  /** Reading and schema findings, in document order. */
  diagnostics: ConfigDiagnostic[];
  /** The file's content when it has no error (safe to resolve). */
  config?: RunConfigFile;
  /** The plain value as far as it could be read (keys the schema knows only). */
  value: unknown;
}

function byPosition(a: ConfigDiagnostic, b: ConfigDiagnostic): number {
  return a.range.start.line - b.range.start.line || a.range.start.character - b.range.start.character;
}

/**
 * Check a parsed run config against the schema and the rules between keys. Never
 * throws; returns the findings in document order (at most MAX_DIAGNOSTICS + 1).
 */
export function validateRunConfig(parsed: ParsedRunConfig): ValidationResult {
  const diagnostics = [...parsed.diagnostics];
  const document = parsed.document;
  if (!document) return { diagnostics, value: undefined };
  const value = walkDocument(parsed, document, diagnostics);
  crossChecks(parsed, new ConfigView(value), diagnostics);
  diagnostics.sort(byPosition);
  const capped = capDiagnostics(diagnostics, parsed.lines);
  const hasError = capped.some((d) => d.severity === 'error');
  return { diagnostics: capped, value, ...(hasError ? {} : { config: value as RunConfigFile }) };
}

export function capDiagnostics(diagnostics: ConfigDiagnostic[], lines: LineIndex): ConfigDiagnostic[] {
  if (diagnostics.length <= MAX_DIAGNOSTICS) return diagnostics;
  const last = diagnostics[MAX_DIAGNOSTICS]!;
  return [
    ...diagnostics.slice(0, MAX_DIAGNOSTICS),
    {
      severity: 'error',
      code: 'too-many-problems',
      message: `${diagnostics.length - MAX_DIAGNOSTICS} more problems are not shown; fix the ones above first.`,
      range: last.range ?? { start: lines.positionAt(0), end: lines.positionAt(0) },
      path: [],
    },
  ];
}

/** Parse and check in one step. */
export function checkRunConfigText(text: string, syntax: ConfigSyntax = 'yaml'): ValidationResult & { parsed: ParsedRunConfig } {
  const parsed = parseRunConfig(text, syntax);
  return { parsed, ...validateRunConfig(parsed) };
}
