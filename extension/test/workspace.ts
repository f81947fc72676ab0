/**
 * The workspace the in-editor suite opens, written by the host driver
 * (test/e2e/editorWorkspace.ts) and read by the suite: file names spelled once here.
 */
export const EditorWorkspace = {
  /** A short real training run (seconds), SPruFT compared with LoRA. */
  quickConfig: 'quick.spruft.yaml',
  /** A run long enough to be stopped half-way. */
  longConfig: 'long.spruft.yaml',
  /** A config with an error the language server reports. */
  brokenConfig: 'broken.spruft.yaml',
  /** Where the configs write their run folders (the configs' output.dir). */
  runsDir: 'runs',
} as const;

/** The extension's id in package.json (publisher.name). */
export const EXTENSION_ID = 'spruft-studio.spruft-studio';
