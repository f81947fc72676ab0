/**
 * The run-config language server (dist/languageServer.js, its own esbuild entry):
 * diagnostics, completion and hover for `*.spruft.yaml`. Started over IPC with the
 * editor's Node; safe in untrusted workspaces (it only reads the open documents).
 */
import { existsSync } from 'node:fs';
import * as vscode from 'vscode';
import { LanguageClient, TransportKind, type LanguageClientOptions, type ServerOptions } from 'vscode-languageclient/node';
import { CONFIG_LANGUAGE_ID } from './commandIds';

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
  const clientOptions: LanguageClientOptions = {
    documentSelector: [
      { language: CONFIG_LANGUAGE_ID, scheme: 'file' },
      { language: CONFIG_LANGUAGE_ID, scheme: 'untitled' },
    ],
    outputChannelName: 'SPruFT Config Language Server',
  };
  const client = new LanguageClient('spruftConfig', 'SPruFT Config', serverOptions, clientOptions);
  await client.start();
  return client;
}
