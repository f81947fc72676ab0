/**
 * The one handle the webview has on its host. `acquireVsCodeApi` is injected by VS Code
 * (and by the browser test's stand-in) and may be called once per page.
 */
import type { WebviewToHost } from '../../protocol/webview';
import type { DashboardSnapshot } from '../../protocol/runFolder';

export interface WebviewApi {
  postMessage(message: WebviewToHost): void;
  getState(): DashboardSnapshot | undefined;
  setState(state: DashboardSnapshot): void;
}

declare function acquireVsCodeApi(): WebviewApi;

export function connectToHost(): WebviewApi {
  return acquireVsCodeApi();
}
