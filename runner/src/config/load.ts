/**
 * Reading a run config the way every run does: parse with ranges, check against the
 * schema and the rules between keys (protocol/configValidate/), resolve, then check
 * against the files and the model (semantic.ts). `spruft check`, the `run/check` request,
 * the language server and each run call this one function, so that they agree, and no
 * run starts on a file that `spruft check` rejects.
 */
import { existsSync } from 'node:fs';
import { totalmem } from 'node:os';
import { dirname, resolve } from 'node:path';
import { resolveRunConfig, type ResolvedRunConfig, type RunConfigFile } from '../../../protocol/config';
import { checkRunConfigText, configSyntaxOf, capDiagnostics, type ParsedRunConfig } from '../../../protocol/configValidate';
import type { ConfigDiagnostic } from '../../../protocol/diagnostics';
import type { InspectResult } from '../../../protocol/results';
import { SpruftError } from '../errors';
import { READ_LIMITS, readTextFile } from '../io/regularFile';
import type { TrainingMemoryEstimate } from './memoryEstimate';
import { readModelLayers } from './modelInspector';
import { semanticChecks, type ModelInspector } from './semantic';
import type { TargetSelection } from './targets';

export interface LoadOptions {
  /** Check paths, data files, the model's layers and memory (default true). */
  semantic?: boolean;
  /** Memory the estimate is compared with; default: this machine's memory. */
  memoryLimitBytes?: number;
  /** Reads a model's layer list; default: the model header reader (no weights). */
  inspect?: ModelInspector;
}

export interface LoadedRunConfig {
  /** Absolute path of the config file. */
  path: string;
  parsed: ParsedRunConfig;
  /** Every finding, in document order. */
  diagnostics: ConfigDiagnostic[];
  /** What the file holds, when it passed the schema checks. */
  file?: RunConfigFile;
  /** Defaults applied and paths made absolute, when it passed the schema checks. */
  resolved?: ResolvedRunConfig;
  /** The model's layer list, when it could be read. */
  model?: InspectResult;
  targets?: TargetSelection;
  /** Estimated training memory per method (labelled estimates, see memoryEstimate.ts). */
  estimates: TrainingMemoryEstimate[];
}

/**
 * The file's text: a regular file only (a FIFO or /dev/zero would read without end), at
 * most READ_LIMITS.configBytes, UTF-8 only (a BOM is dropped); bytes that are not UTF-8
 * are an error naming the file and the offset.
 */
async function readConfigText(path: string): Promise<string> {
  if (!existsSync(path)) throw new SpruftError('FILE_NOT_FOUND', 'run config not found; give the path of a *.spruft.yaml file', path);
  const text = readTextFile(path, 'run config', 'CONFIG_INVALID', READ_LIMITS.configBytes);
  return text.charCodeAt(0) === 0xfeff ? text.slice(1) : text;
}

/**
 * Read and check a run config. `text` replaces the file's content (unsaved editor text).
 * Throws only when the file cannot be read; problems of its content are findings.
 */
export async function loadRunConfig(path: string, text?: string, options: LoadOptions = {}): Promise<LoadedRunConfig> {
  const absolute = resolve(path);
  const source = text ?? (await readConfigText(absolute));
  const checked = checkRunConfigText(source, configSyntaxOf(absolute));
  const result: LoadedRunConfig = { path: absolute, parsed: checked.parsed, diagnostics: checked.diagnostics, estimates: [] };
  if (!checked.config) return result;
  const baseDir = dirname(absolute);
  result.file = checked.config;
  result.resolved = resolveRunConfig(checked.config, { baseDir, sourcePath: absolute, resolvePath: (base, p) => resolve(base, p) });
  if (options.semantic === false) return result;
  const semantic = await semanticChecks(checked.parsed, result.resolved, baseDir, {
    inspect: options.inspect ?? readModelLayers,
    memoryLimitBytes: options.memoryLimitBytes ?? totalmem(),
    memoryLimitLabel: options.memoryLimitBytes === undefined ? "this machine's memory" : 'the memory limit set',
  });
  const all = [...checked.diagnostics, ...semantic.diagnostics].sort(
    (a, b) => a.range.start.line - b.range.start.line || a.range.start.character - b.range.start.character,
  );
  result.diagnostics = capDiagnostics(all, checked.parsed.lines);
  result.model = semantic.model;
  result.targets = semantic.targets;
  result.estimates = semantic.estimates;
  return result;
}

/** `file:line:col: severity: message`, 1-based, as compilers print (and problem matchers read). */
export function formatConfigDiagnostic(file: string, d: ConfigDiagnostic): string {
  return `${file}:${d.range.start.line + 1}:${d.range.start.character + 1}: ${d.severity}: ${d.message}`;
}

/** CONFIG_INVALID with the findings, for the JSON-RPC error's `data.diagnostics`. */
export class RunConfigError extends SpruftError {
  constructor(
    readonly configPath: string,
    readonly diagnostics: ConfigDiagnostic[],
  ) {
    const errors = diagnostics.filter((d) => d.severity === 'error');
    super(
      'CONFIG_INVALID',
      `the run config has ${errors.length} error${errors.length === 1 ? '' : 's'}; no run was started:\n${errors.map((d) => formatConfigDiagnostic(configPath, d)).join('\n')}`,
    );
  }
}
