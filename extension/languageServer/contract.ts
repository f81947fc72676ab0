/**
 * What the extension's language client and this server agree on (the client lives in
 * extension/src and imports these): which documents the server serves, the settings it
 * reads, and the files whose changes drop its cached layer lists. No vscode imports.
 */

/** Language id of `*.spruft.yaml` / `*.spruft.yml` (package.json `contributes.languages`). */
export const RUN_CONFIG_LANGUAGE_ID = 'spruft-config';

/**
 * The client's `documentSelector`: run-config YAML by language, and `*.spruft.json` files
 * (language `json`: VS Code's JSON support checks them against the contributed JSON
 * Schema; this server adds what a schema cannot say: files, layers, memory).
 */
export const RUN_CONFIG_DOCUMENT_SELECTOR = [
  { language: RUN_CONFIG_LANGUAGE_ID },
  { language: 'json', pattern: '**/*.spruft.json' },
] as const;

/**
 * Settings the server reads per document (`workspace/configuration` with the document's
 * URI as scope), under this section. The extension contributes them in package.json:
 *   spruft.check.semantic        boolean, default true: check paths, data files, the model's layers and memory
 *   spruft.check.memoryLimitGb   number, default 0 (= this machine's memory): what the memory estimate is compared with
 */
export const SETTINGS_SECTION = 'spruft.check';

export interface RunConfigSettings {
  semantic: boolean;
  memoryLimitGb: number;
}

export const DEFAULT_SETTINGS: RunConfigSettings = { semantic: true, memoryLimitGb: 0 };

/** Files whose change drops cached layer lists (the client's `synchronize.fileEvents` watcher). */
export const MODEL_FILES_GLOB = '**/{config.json,*.safetensors,model.safetensors.index.json,model.json}';
