/**
 * The one typed reader of the extension's settings (STYLE.md point 7): a getter per
 * setting, read where used, never cached, so a change applies to the next use.
 */
import * as vscode from 'vscode';
import type { BackendChoice } from '../../protocol/results';
import { SETTINGS_SECTION, SettingKey } from './commandIds';

function section(): vscode.WorkspaceConfiguration {
  return vscode.workspace.getConfiguration(SETTINGS_SECTION);
}

export const settings = {
  /** TensorFlow.js backend for the runner; `auto` leaves each config's `backend:` in charge. */
  backend(): BackendChoice {
    return section().get<BackendChoice>(SettingKey.backend, 'auto');
  },
  /** Extra arguments after `spruft serve`. Restricted in untrusted workspaces. */
  runnerArgs(): string[] {
    return section().get<string[]>(SettingKey.runnerArgs, []).filter((a) => typeof a === 'string');
  },
  /** Node executable for the runner; empty: the editor's own runtime. Restricted in untrusted workspaces. */
  nodeExecutable(): string {
    return section().get<string>(SettingKey.nodeExecutable, '').trim();
  },
  /** How long a request to the runner may take before it fails. */
  requestTimeoutMs(): number {
    const seconds = section().get<number>(SettingKey.requestTimeoutSeconds, 120);
    return Math.max(1, seconds) * 1000;
  },
  openDashboardOnRun(): boolean {
    return section().get<boolean>(SettingKey.openDashboardOnRun, true);
  },
};
