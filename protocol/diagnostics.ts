/**
 * A finding about a run-config file, shared by `spruft check` (printed as
 * `file:line:col: severity: message`), the `run/check` request and the language
 * server's diagnostics. Lines and columns are 0-based here (LSP convention); the CLI
 * prints them 1-based.
 */
export type ConfigSeverity = 'error' | 'warning' | 'information';

export interface ConfigPosition {
  line: number;
  character: number;
}

export interface ConfigRange {
  start: ConfigPosition;
  end: ConfigPosition;
}

export interface ConfigFix {
  /** Button text, e.g. "Change to `learningRate`". */
  title: string;
  range: ConfigRange;
  newText: string;
}

export interface ConfigDiagnostic {
  severity: ConfigSeverity;
  /** Stable identifier, e.g. `unknown-key`, `out-of-range`, `target-no-match`. */
  code: string;
  message: string;
  range: ConfigRange;
  /** Key path in the document, e.g. ["training", "lr"]. */
  path: Array<string | number>;
  fixes?: ConfigFix[];
}
