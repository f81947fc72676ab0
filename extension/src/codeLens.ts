/**
 * "Fine-tune with this config" (and its two siblings) above the first line of every
 * run-config file.
 */
import * as vscode from 'vscode';
import { CommandId } from './commandIds';

export class ConfigCodeLensProvider implements vscode.CodeLensProvider {
  provideCodeLenses(document: vscode.TextDocument): vscode.CodeLens[] {
    const top = new vscode.Range(0, 0, 0, 0);
    return [
      new vscode.CodeLens(top, { title: '$(play) Fine-tune with this config', command: CommandId.fineTune, arguments: [document.uri] }),
      new vscode.CodeLens(top, { title: 'Compare with LoRA', command: CommandId.compareWithLora, arguments: [document.uri] }),
      new vscode.CodeLens(top, { title: 'Score importance', command: CommandId.scoreImportance, arguments: [document.uri] }),
    ];
  }
}
