/**
 * Command ids, settings keys and view types: spelled once here (no vscode import), used
 * by the extension, its in-editor tests, and checked against package.json's
 * contributions by commandIds.test.ts.
 */
export const CommandId = {
  fineTune: 'spruft.fineTune',
  scoreImportance: 'spruft.scoreImportance',
  compareWithLora: 'spruft.compareWithLora',
  stopRun: 'spruft.stopRun',
  openDashboard: 'spruft.openDashboard',
  mergeAdapter: 'spruft.mergeAdapter',
  restartRunner: 'spruft.restartRunner',
  showRunnerLog: 'spruft.showRunnerLog',
  /** The status-bar item's menu (not in the command palette). */
  statusMenu: 'spruft.statusMenu',
  newRunConfig: 'spruft.newRunConfig',
  resumeRun: 'spruft.resumeRun',
  rerun: 'spruft.rerun',
  revealRun: 'spruft.revealRun',
  deleteRun: 'spruft.deleteRun',
  refreshRuns: 'spruft.refreshRuns',
  openPlayground: 'spruft.openPlayground',
} as const;

export type CommandIdValue = (typeof CommandId)[keyof typeof CommandId];

/** Section of every setting (`spruft.<key>`). */
export const SETTINGS_SECTION = 'spruft';

export const SettingKey = {
  backend: 'runner.backend',
  runnerArgs: 'runner.args',
  nodeExecutable: 'runner.nodeExecutable',
  requestTimeoutSeconds: 'runner.requestTimeoutSeconds',
  openDashboardOnRun: 'dashboard.openOnRun',
} as const;

/** Context keys set by the extension for `when` clauses. */
export const ContextKey = {
  runActive: 'spruft.runActive',
  runnerReady: 'spruft.runnerReady',
} as const;

export const DASHBOARD_VIEW_TYPE = 'spruft.dashboard';
export const PLAYGROUND_VIEW_TYPE = 'spruft.playground';
/** The Runs tree view in the SPruFT sidebar container. */
export const RUNS_VIEW_ID = 'spruft.runs';
/** Run-config files that get the code lens and editor-title buttons. */
export const CONFIG_FILE_GLOB = '**/*.spruft.{yaml,yml}';
export const CONFIG_FILE_PATTERN = /\.spruft\.ya?ml$/;
