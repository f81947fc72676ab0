/**
 * Rules that relate several keys (a dataset that does not fit the task, workers beyond
 * the batch, keys that do nothing given others...); all pure: no files, no model.
 */
import { DATASET_LABEL_COUNTS, DEFAULT_DATA_PATHS, INSTRUCTION_FORMATS, LABELLED_TASKS, TASK_DATASETS } from '../config';
import type { ConfigDiagnostic } from '../diagnostics';
import { methodsReading, TARGET_METHODS } from '../methods';
import { rangeOfPath, removeFix } from './locate';
import type { ParsedRunConfig } from './parse';
import { formatPath, type ConfigPath } from './schema';
import { codeList } from './suggest';
import { ConfigView } from './view';

interface IgnoredRule {
  path: ConfigPath;
  /** Why the key has no effect here, or undefined when it has. */
  reason: (view: ConfigView) => string | undefined;
}

/** A method's section does nothing unless one of the methods reading it trains (`lora:` is DoRA's too). */
const notTrained = (...readers: string[]) => (view: ConfigView): string | undefined => {
  const current = view.string(['method']);
  if (current === undefined || view.methods().some((m) => readers.includes(m))) return undefined;
  return `\`method\` is \`${current}\` and \`compare\` does not name ${readers.map((m) => `\`${m}\``).join(' or ')}`;
};
const metricNot = (...metrics: string[]) => (view: ConfigView): string | undefined => {
  if (view.has(['spruft', 'selectionFrom'])) return 'rows come from `spruft.selectionFrom`; nothing is scored';
  const metric = view.string(['spruft', 'importance', 'metric']);
  return metric && !metrics.includes(metric) ? `the metric is \`${metric}\`; it is read by ${codeList(metrics)} only` : undefined;
};
const scheduleNot = (schedule: string) => (view: ConfigView): string | undefined => {
  const s = view.string(['training', 'schedule']);
  return s !== schedule ? `\`training.schedule\` is \`${s}\`` : undefined;
};
const formatIs = (...formats: string[]) => (view: ConfigView): string | undefined => {
  const format = view.string(['data', 'format']) ?? 'text';
  return formats.includes(format) ? `\`data.format\` is \`${format}\`` : undefined;
};
const taskIs = (...tasks: string[]) => (view: ConfigView): string | undefined => {
  const task = view.string(['task']);
  return task && tasks.includes(task) ? `\`task\` is \`${task}\`` : undefined;
};


/** `training.epochs` above this is a warning; above MAX_EPOCHS an error (a run that cannot finish). */
const MAX_SENSIBLE_EPOCHS = 1000;
const MAX_EPOCHS = 100_000;

/** Keys that do nothing given other keys: said as warnings, so a setting is never silently dropped. */
const IGNORED_RULES: IgnoredRule[] = [
  ...(['lora', 'vera', 'spruft'] as const).map((section): IgnoredRule => ({ path: [section], reason: notTrained(...methodsReading(section)) })),
  {
    path: ['targets'],
    reason: (view) =>
      view.string(['method']) === undefined || view.methods().some((m) => (TARGET_METHODS as readonly string[]).includes(m)) ? undefined : `no method that adapts \`targets\` (${TARGET_METHODS.join(', ')}) is trained`,
  },
  { path: ['spruft', 'importance', 'perturbations'], reason: metricNot('zo-taylor') },
  { path: ['spruft', 'importance', 'calibrationSets'], reason: metricNot('zo-taylor') },
  { path: ['spruft', 'importance', 'epsilon'], reason: metricNot('zo-taylor') },
  { path: ['spruft', 'importance', 'classAggregation'], reason: metricNot('qm-taylor') },
  { path: ['spruft', 'importance', 'classScore'], reason: metricNot('qm-taylor') },
  { path: ['spruft', 'importance', 'calibrationBatches'], reason: metricNot('taylor', 'qm-taylor') },
  { path: ['spruft', 'importance', 'seed'], reason: metricNot('random', 'zo-taylor') },
  { path: ['training', 'minLr'], reason: scheduleNot('cosine') },
  { path: ['training', 'linearDecayTo'], reason: scheduleNot('linear') },
  { path: ['data', 'image'], reason: taskIs('text-classification', 'causal-lm') },
  { path: ['data', 'text'], reason: taskIs('image-classification') },
  { path: ['data', 'text', 'labelField'], reason: taskIs('causal-lm') },
  { path: ['data', 'classes'], reason: taskIs('causal-lm') },
  { path: ['data', 'labelNames'], reason: taskIs('causal-lm') },
  { path: ['head'], reason: taskIs('causal-lm') },
  { path: ['data', 'promptTemplate'], reason: formatIs('text') },
  { path: ['data', 'chatTemplate'], reason: formatIs('text') },
  { path: ['data', 'text', 'field'], reason: formatIs('alpaca', 'chat') },
  { path: ['data', 'evalFraction'], reason: (view) => (view.has(['data', 'evalPath']) ? '`data.evalPath` gives the evaluation data' : undefined) },
];

/** Checks that relate several keys; all pure (no files, no model). */
export function crossChecks(parsed: ParsedRunConfig, view: ConfigView, out: ConfigDiagnostic[]): void {
  const at = (path: ConfigPath, part: 'key' | 'value' = 'value') => rangeOfPath(parsed, path, part);
  const task = view.raw(['task']);
  const dataset = view.raw(['data', 'dataset']);
  const validTask = typeof task === 'string' && task in TASK_DATASETS ? (task as keyof typeof TASK_DATASETS) : undefined;

  if (validTask && typeof dataset === 'string') {
    const fits = TASK_DATASETS[validTask] as readonly string[];
    if (!fits.includes(dataset)) {
      out.push({
        severity: 'error',
        code: 'dataset-task-mismatch',
        message: `\`data.dataset: ${dataset}\` does not fit \`task: ${validTask}\`; that task reads ${codeList(fits)}.`,
        range: at(['data', 'dataset']),
        path: ['data', 'dataset'],
        fixes: fits.map((d) => ({ title: `Change to \`${d}\``, range: at(['data', 'dataset']), newText: d })),
      });
    }
  }
  if (typeof dataset === 'string' && DEFAULT_DATA_PATHS[dataset as keyof typeof DEFAULT_DATA_PATHS] === undefined && !view.has(['data', 'path'])) {
    out.push({
      severity: 'error',
      code: 'missing-key',
      message: `Missing \`data.path\`: the dataset \`${dataset}\` is read from a file or folder that you name. Add \`path:\` under \`data\`.`,
      range: at(['data'], 'key'),
      path: ['data', 'path'],
    });
  }

  const format = view.raw(['data', 'format']);
  if ((INSTRUCTION_FORMATS as readonly unknown[]).includes(format)) {
    if (validTask && validTask !== 'causal-lm') {
      out.push({
        severity: 'error', code: 'format-task-mismatch', path: ['data', 'format'], range: at(['data', 'format']),
        message: `\`data.format: ${String(format)}\` is instruction tuning, which needs \`task: causal-lm\`, but \`task\` is \`${validTask}\`.`,
      });
    } else if (typeof dataset === 'string' && dataset !== 'jsonl') {
      out.push({
        severity: 'error', code: 'format-dataset-mismatch', path: ['data', 'format'], range: at(['data', 'format']),
        message: `\`data.format: ${String(format)}\` reads records from \`jsonl\` (JSONL or a JSON array), but \`data.dataset\` is \`${dataset}\`.`,
        fixes: [{ title: 'Change to `jsonl`', range: at(['data', 'dataset']), newText: 'jsonl' }],
      });
    }
  }
  if (view.has(['evaluation']) && validTask && validTask !== 'causal-lm') {
    out.push({
      severity: 'error', code: 'evaluation-needs-causal-lm', path: ['evaluation'], range: at(['evaluation'], 'key'),
      message: `\`evaluation.tasks\` scores zero-shot multiple choice by a language model's log-likelihoods, which needs \`task: causal-lm\`, but \`task\` is \`${validTask}\`.`,
    });
  }

  const metric = view.raw(['spruft', 'importance', 'metric']);
  if (metric === 'qm-taylor' && validTask && !(LABELLED_TASKS as readonly string[]).includes(validTask) && view.methods().includes('spruft')) {
    out.push({
      severity: 'error',
      code: 'metric-needs-labels',
      message: `\`qm-taylor\` scores neurons per class (paper eq. 6-7) and needs a labelled classification task, but \`task\` is \`${validTask}\`. Use \`taylor\`, \`zo-taylor\` or \`l2\`.`,
      range: at(['spruft', 'importance', 'metric']),
      path: ['spruft', 'importance', 'metric'],
      fixes: ['zo-taylor', 'taylor', 'l2'].map((m) => ({ title: `Change to \`${m}\``, range: at(['spruft', 'importance', 'metric']), newText: m })),
    });
  }

  const labelCount = typeof dataset === 'string' ? DATASET_LABEL_COUNTS[dataset as keyof typeof DATASET_LABEL_COUNTS] : undefined;
  const classes = view.raw(['data', 'classes']);
  if (labelCount !== undefined && Array.isArray(classes)) {
    classes.forEach((c, i) => {
      if (typeof c === 'number' && c >= labelCount) {
        out.push({
          severity: 'error',
          code: 'out-of-range',
          message: `\`data.classes\`: label ${c} does not exist in \`${String(dataset)}\`, whose labels are 0 to ${labelCount - 1}.`,
          range: at(['data', 'classes', i]),
          path: ['data', 'classes', i],
        });
      }
    });
  }
  const labelNames = view.raw(['data', 'labelNames']);
  const labels = Array.isArray(classes) ? classes.length : labelCount;
  if (Array.isArray(labelNames) && labels !== undefined && labelNames.length !== labels && validTask !== 'causal-lm') {
    out.push({
      severity: 'error',
      code: 'label-names-count',
      message: `\`data.labelNames\` has ${labelNames.length} names but there are ${labels} labels (${Array.isArray(classes) ? '`data.classes`' : `\`${String(dataset)}\``}); give one name per label, in label order.`,
      range: at(['data', 'labelNames']),
      path: ['data', 'labelNames'],
    });
  }

  const method = view.string(['method']);
  const compare = view.raw(['compare']);
  if (typeof method === 'string' && Array.isArray(compare)) {
    const index = compare.indexOf(method);
    if (index >= 0) {
      out.push({
        severity: 'information',
        code: 'redundant-compare',
        message: `\`compare\` names \`${method}\`, which is already \`method\`; it is trained once.`,
        range: at(['compare', index]),
        path: ['compare', index],
      });
    }
  }

  const lr = view.raw(['training', 'lr']);
  if (typeof lr === 'number' && lr > 0.1) {
    out.push({
      severity: 'warning',
      code: 'unusual-value',
      message: `\`training.lr\` is ${lr}, far above fine-tuning rates (paper 5.3: 1e-4 for image models, 2e-5 for SPruFT on Llama); training will likely diverge.`,
      range: at(['training', 'lr']),
      path: ['training', 'lr'],
    });
  }

  // Data-parallel ranks split every batch (engine/parallel): each needs at least one example of it.
  const workers = view.number(['training', 'workers']);
  const batchSize = view.number(['training', 'batchSize']);
  if (workers !== undefined && batchSize !== undefined && workers > batchSize) {
    const path: ConfigPath = view.has(['training', 'workers']) ? ['training', 'workers'] : ['training', 'batchSize'];
    out.push({
      severity: 'error',
      code: 'workers-exceed-batch',
      message: `\`training.workers\` (${workers}) exceeds \`training.batchSize\` (${batchSize}): each worker computes a share of every batch. Use at most ${batchSize} workers, or a larger batch.`,
      range: at(path),
      path,
    });
  }

  // `head` trains the classifier head alone: with no head to train, the run would train nothing.
  const headIndex = view.methods().indexOf('head');
  const headTrain = view.raw(['head', 'train']);
  if (headIndex >= 0 && (validTask === 'causal-lm' || headTrain === false)) {
    const path: ConfigPath = headIndex === 0 && view.string(['method']) === 'head' ? ['method'] : ['compare', view.list(['compare']).indexOf('head')];
    out.push({
      severity: 'error',
      code: 'nothing-to-train',
      message: `Method \`head\` trains the classifier head only, but ${validTask === 'causal-lm' ? '`task: causal-lm` has no classifier head' : '`head.train` is `false`'}: the run would train nothing. Use \`spruft\`, \`lora\` or \`full\`${validTask === 'causal-lm' ? '' : ', or set `head.train: true`'}.`,
      range: at(path),
      path,
    });
  }

  // Values the schema allows but no run could finish (or that would exhaust memory first).
  const epochs = view.raw(['training', 'epochs']);
  if (typeof epochs === 'number' && epochs > MAX_SENSIBLE_EPOCHS) {
    out.push({
      severity: epochs > MAX_EPOCHS ? 'error' : 'warning',
      code: 'unusual-value',
      message: `\`training.epochs\` is ${epochs}: ${epochs > MAX_EPOCHS ? `more than the ${MAX_EPOCHS.toLocaleString('en')} passes a run accepts` : 'far more passes than fine-tuning takes (paper 5.3 and C.1: 5 epochs)'}; set \`training.maxSteps\` to bound a run by steps.`,
      range: at(['training', 'epochs']),
      path: ['training', 'epochs'],
    });
  }

  // The schema's pattern lets `.` and `..` through; either would put the run folder outside output.dir.
  const outputName = view.raw(['output', 'name']);
  if (outputName === '.' || outputName === '..') {
    out.push({
      severity: 'error',
      code: 'invalid-value',
      message: `\`output.name\` is \`${outputName}\`: it names a folder inside \`output.dir\`, so it cannot be \`.\` or \`..\`. Use a name such as \`my-run\`.`,
      range: at(['output', 'name']),
      path: ['output', 'name'],
    });
  }

  for (const rule of IGNORED_RULES) {
    if (!view.has(rule.path)) continue;
    const reason = rule.reason(view);
    if (!reason) continue;
    out.push({
      severity: 'warning',
      code: 'ignored-option',
      message: `\`${formatPath(rule.path)}\` has no effect: ${reason}.`,
      range: at(rule.path, 'key'),
      path: rule.path,
      fixes: removeFix(parsed, rule.path),
    });
  }
}

/** The key paths the cross-key rules read (a test checks each exists in the schema). */
export const CROSS_CHECK_PATHS: ConfigPath[] = IGNORED_RULES.map((r) => r.path);
