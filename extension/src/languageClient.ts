/**
 * The run-config language server (dist/languageServer.js, its own esbuild entry):
 * diagnostics, completion and hover for `*.spruft.yaml` and `*.spruft.json`. Started over
 * IPC with the editor's Node; safe in untrusted workspaces (it only reads the open
 * documents and the files they name). What client and server agree on is
 * protocol/languageServer.ts.
 */
import { existsSync } from 'node:fs';
import * as vscode from 'vscode';
import { LanguageClient, TransportKind, type LanguageClientOptions, type ServerOptions } from 'vscode-languageclient/node';
import { MODEL_FILES_GLOB, RUN_CONFIG_DOCUMENT_SELECTOR } from '../../protocol/languageServer';

export async function startLanguageClient(context: vscode.ExtensionContext, output: vscode.LogOutputChannel): Promise<LanguageClient | undefined> {
  const module = context.asAbsolutePath('dist/languageServer.js');
  if (!existsSync(module)) {
    output.warn(`language server not found at ${module}: run-config diagnostics are off (build with \`npm run build\`).`);
    return undefined;
  }
  const serverOptions: ServerOptions = {
    run: { module, transport: TransportKind.ipc },
    debug: { module, transport: TransportKind.ipc, options: { execArgv: ['--nolazy', '--inspect=6010'] } },
  };
  const watcher = vscode.workspace.createFileSystemWatcher(MODEL_FILES_GLOB);
  context.subscriptions.push(watcher);
  const clientOptions: LanguageClientOptions = {
    documentSelector: RUN_CONFIG_DOCUMENT_SELECTOR.map((filter) => ({ ...filter })),
    // A model folder's config.json or weights changing: the server drops its layer lists and checks the open configs again.
    synchronize: { fileEvents: watcher },
    outputChannelName: 'SPruFT Config Language Server',
  };
  const client = new LanguageClient('spruftConfig', 'SPruFT Config', serverOptions, clientOptions);
  await client.start();
  return client;
}
