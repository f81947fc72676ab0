/**
 * The contract between the extension's language client (extension/src/languageClient.ts)
 * and the run-config language server (extension/languageServer/server.ts): which
 * documents the server serves, the settings it reads (declared in package.json
 * `contributes.configuration`; commandIds.test.ts checks they agree), and the files whose
 * changes make it check the open configs again. No vscode imports.
 */

/** Language id of `*.spruft.yaml` / `*.spruft.yml` (package.json `contributes.languages`). */
export const RUN_CONFIG_LANGUAGE_ID = 'spruft-config';

/**
 * The client's `documentSelector`: run-config YAML by language (saved or untitled), and
 * `*.spruft.json` files (language `json`: VS Code's JSON support checks them against the
 * contributed JSON Schema; the server adds what a schema cannot say: files, layers, memory).
 */
export const RUN_CONFIG_DOCUMENT_SELECTOR = [
  { language: RUN_CONFIG_LANGUAGE_ID, scheme: 'file' },
  { language: RUN_CONFIG_LANGUAGE_ID, scheme: 'untitled' },
  { language: 'json', scheme: 'file', pattern: '**/*.spruft.json' },
] as const;

/**
 * Settings the server reads per document (`workspace/configuration` with the document's
 * URI as scope), under this section: `spruft.check.<key>`.
 */
export const CHECK_SETTINGS_SECTION = 'spruft.check';

/** Each setting: its default and the description package.json shows (the same text). */
export const CHECK_SETTINGS = {
  semantic: {
    type: 'boolean',
    default: true,
    description: 'Check run configs against the files they name: paths, data files, the model\'s layers and the training-memory estimate. Off: the schema and the rules between keys only.',
  },
  memoryLimitGb: {
    type: 'number',
    default: 0,
    description: 'Memory (GB) that the training-memory estimate of a run config is compared with. 0: this machine\'s memory.',
  },
} as const;

export type RunConfigSettings = { -readonly [K in keyof typeof CHECK_SETTINGS]: (typeof CHECK_SETTINGS)[K]['default'] extends boolean ? boolean : number };

export const DEFAULT_CHECK_SETTINGS: RunConfigSettings = { semantic: CHECK_SETTINGS.semantic.default, memoryLimitGb: CHECK_SETTINGS.memoryLimitGb.default };

/** The settings from what `workspace/configuration` answered: a value of the wrong type (or a negative limit) is the default. */
export function readCheckSettings(value: unknown): RunConfigSettings {
  const v = (value !== null && typeof value === 'object' ? value : {}) as Partial<Record<keyof RunConfigSettings, unknown>>;
  return {
    semantic: typeof v.semantic === 'boolean' ? v.semantic : DEFAULT_CHECK_SETTINGS.semantic,
    memoryLimitGb: typeof v.memoryLimitGb === 'number' && v.memoryLimitGb >= 0 ? v.memoryLimitGb : DEFAULT_CHECK_SETTINGS.memoryLimitGb,
  };
}

/**
 * Files whose change drops the server's cached layer lists and checks the open configs
 * again (the client's `synchronize.fileEvents` watcher): a model folder's config.json,
 * its weights or shard index, a TF.js model.json.
 */
export const MODEL_FILES_GLOB = '**/{config.json,*.safetensors,model.safetensors.index.json,model.json}';
