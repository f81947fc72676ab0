/**
 * "SPruFT: New run config": task, model and data pickers, then a commented
 * `<name>.spruft.yaml` in the workspace (never over an existing file), opened for
 * editing. Models offered: Hugging Face style folders and TensorFlow.js `model.json`
 * files found in the workspace, the MobileNetV2 the `nsfwjs` package ships, or one
 * browsed to. Called with a NewRunConfig (tests, scripts) it asks nothing.
 */
import { existsSync } from 'node:fs';
import { basename, dirname, isAbsolute, join, relative } from 'node:path';
import * as vscode from 'vscode';
import type { Task } from '../../../protocol/config';
import { configFileName, DATA_CHOICES, runConfigText, TASK_CHOICES, type NewRunConfig } from './runConfigTemplate';

type Pick<T> = vscode.QuickPickItem & { value: T };

/** A path as the config writes it: relative to its folder when inside it. */
function asWritten(path: string, configDir: string): string {
  if (path.startsWith('npm:')) return path;
  const rel = relative(configDir, path);
  return rel && !rel.startsWith('..') && !isAbsolute(rel) ? rel : path;
}

async function workspaceModels(): Promise<string[]> {
  const [hf, layers] = await Promise.all([
    vscode.workspace.findFiles('**/model.safetensors', '**/{node_modules,runs}/**', 50),
    vscode.workspace.findFiles('**/model.json', '**/{node_modules,runs}/**', 50),
  ]);
  return [...hf.map((u) => dirname(u.fsPath)).filter((d) => existsSync(join(d, 'config.json'))), ...layers.map((u) => u.fsPath)].sort();
}

async function browse(kind: 'file' | 'folder' | 'file-or-folder', title: string): Promise<string | undefined> {
  const picked = await vscode.window.showOpenDialog({ canSelectFiles: kind !== 'folder', canSelectFolders: kind !== 'file', canSelectMany: false, openLabel: title });
  return picked?.[0]?.fsPath;
}

async function pickTask(): Promise<Task | undefined> {
  const picked = await vscode.window.showQuickPick<Pick<Task>>(
    TASK_CHOICES.map((t) => ({ label: t.label, detail: t.detail, value: t.task })),
    { title: 'New run config (1/3): task', placeHolder: 'What should the model learn?' },
  );
  return picked?.value;
}

type ModelChoice = { path: string; cutAt?: string; image?: NewRunConfig['image'] };

async function pickModel(task: Task, folder: string): Promise<ModelChoice | undefined> {
  const found = await workspaceModels();
  const items: Array<Pick<ModelChoice | 'browse'>> = found.map((p) => ({
    label: `$(file-binary) ${basename(p) === 'model.json' ? basename(dirname(p)) : basename(p)}`,
    description: asWritten(p, folder),
    value: { path: p },
  }));
  if (task === 'image-classification') {
    items.push({ label: '$(package) MobileNetV2 (npm: nsfwjs)', description: 'npm:nsfwjs/mobilenet_v2, cut at out_relu, 3 channels', value: { path: 'npm:nsfwjs/mobilenet_v2', cutAt: 'out_relu', image: { size: 32, channels: 3, normalize: 'minus-one' } } });
  }
  items.push({ label: '$(folder-opened) Browse…', description: 'a model folder (config.json + model.safetensors) or a model.json', value: 'browse' });
  const picked = await vscode.window.showQuickPick(items, { title: 'New run config (2/3): model', placeHolder: 'The pretrained model to fine-tune' });
  if (!picked) return undefined;
  if (picked.value !== 'browse') return picked.value;
  const path = await browse('file-or-folder', 'Use this model');
  return path ? { path } : undefined;
}

async function pickData(task: Task): Promise<{ dataset: NewRunConfig['dataset']; path?: string } | undefined> {
  const choices = DATA_CHOICES[task];
  const picked =
    choices.length === 1
      ? choices[0]
      : (await vscode.window.showQuickPick(choices.map((c) => ({ label: c.label, detail: c.detail, value: c })), { title: 'New run config (3/3): data', placeHolder: 'The data to fine-tune on' }))?.value;
  if (!picked) return undefined;
  if (!picked.needsPath) return { dataset: picked.dataset };
  const glob = picked.dataset === 'jsonl' ? '**/*.jsonl' : picked.dataset === 'text' ? '**/*.txt' : '**/*-images-idx3-ubyte*';
  const found = await vscode.workspace.findFiles(glob, '**/{node_modules,runs}/**', 50);
  const candidates = [...new Set(found.map((u) => (picked.dataset === 'idx' ? dirname(u.fsPath) : u.fsPath)))];
  const items: Array<Pick<string>> = [
    ...candidates.map((p) => ({ label: basename(p), description: vscode.workspace.asRelativePath(p), value: p })),
    { label: '$(folder-opened) Browse…', value: '' },
  ];
  const chosen = await vscode.window.showQuickPick(items, { title: `New run config (3/3): ${picked.label}`, placeHolder: picked.detail });
  if (!chosen) return undefined;
  const path = chosen.value || (await browse(picked.needsPath, 'Use this data'));
  return path ? { dataset: picked.dataset, path } : undefined;
}

/** A file name that does not exist yet in `folder`: `name.spruft.yaml`, `name-2.spruft.yaml`, ... */
function freeFile(folder: string, name: string): string {
  const base = configFileName(name);
  let file = join(folder, base);
  for (let i = 2; existsSync(file); i++) file = join(folder, base.replace(/\.spruft\.yaml$/, `-${i}.spruft.yaml`));
  return file;
}

/** Runs the pickers (or takes `given`), writes the file, opens it; returns its path. */
export async function newRunConfig(given?: unknown): Promise<string | undefined> {
  const workspace = vscode.workspace.workspaceFolders?.[0];
  if (!workspace || workspace.uri.scheme !== 'file') {
    void vscode.window.showInformationMessage('SPruFT: open a folder first; the run config and its runs go there.');
    return undefined;
  }
  const folder = workspace.uri.fsPath;
  let choices: NewRunConfig;
  if (given && typeof given === 'object' && 'task' in given) {
    choices = given as NewRunConfig;
  } else {
    const task = await pickTask();
    if (!task) return undefined;
    const model = await pickModel(task, folder);
    if (!model) return undefined;
    const data = await pickData(task);
    if (!data) return undefined;
    const suggested = `${data.path ? basename(data.path).replace(/\..*$/, '') : data.dataset}-${basename(model.path.replace(/^npm:/, '')).replace(/\..*$/, '')}`;
    const name = await vscode.window.showInputBox({ title: 'New run config: name', prompt: 'The run\'s name (also the file name and the run folders\')', value: suggested, validateInput: (v) => (v.trim() ? undefined : 'Give a name.') });
    if (!name) return undefined;
    const compare = await vscode.window.showQuickPick(['Yes: train LoRA after SPruFT, side by side', 'No: SPruFT only'], { title: 'Compare with LoRA?' });
    if (!compare) return undefined;
    choices = {
      name: name.trim(),
      task,
      modelPath: asWritten(model.path, folder),
      ...(model.cutAt ? { cutAt: model.cutAt } : {}),
      dataset: data.dataset,
      ...(data.path ? { dataPath: asWritten(data.path, folder) } : {}),
      compareLora: compare.startsWith('Yes'),
      ...(model.image ? { image: model.image } : {}),
    };
  }
  const file = freeFile(folder, choices.name);
  const text = runConfigText(choices);
  await vscode.workspace.fs.writeFile(vscode.Uri.file(file), new TextEncoder().encode(text));
  await vscode.window.showTextDocument(vscode.Uri.file(file), { preview: false });
  return file;
}
