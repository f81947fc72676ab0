/**
 * Label-aware index selection shared by image and text datasets: balanced subsets and
 * stratified hold-out splits. Randomness comes only from the given `Rng`, so a seed fixes
 * the result; returned indices are ascending (the trainer shuffles per epoch).
 */
import type { Rng } from '../tensor/rng';
import { SpruftError } from '../errors';

/** Indices of each label, ascending. Labels must be in [0, numClasses). */
export function indicesByLabel(labels: Int32Array, numClasses: number): Int32Array[] {
  const counts = new Int32Array(numClasses);
  for (let i = 0; i < labels.length; i++) {
    const l = labels[i];
    if (l < 0 || l >= numClasses) {
      throw new SpruftError('DATA_INVALID', `sample ${i} has label ${l}, outside 0..${numClasses - 1}`);
    }
    counts[l]++;
  }
  const out = Array.from(counts, (c) => new Int32Array(c));
  const fill = new Int32Array(numClasses);
  for (let i = 0; i < labels.length; i++) out[labels[i]][fill[labels[i]]++] = i;
  return out;
}

function shuffled(indices: Int32Array, rng: Rng): Int32Array {
  const p = rng.permutation(indices.length);
  return Int32Array.from(p, (j) => indices[j]);
}

/**
 * At most `limit` samples, as even across labels as the data allows: each label gets
 * `limit / numClasses`; what a small label cannot fill goes to the others (round robin,
 * lower label first), so counts differ by at most one among labels with enough samples.
 * Which samples of a label are kept is drawn with `rng`.
 */
export function balancedIndices(labels: Int32Array, numClasses: number, limit: number, rng: Rng): Int32Array {
  if (!Number.isInteger(limit) || limit < 0) throw new SpruftError('CONFIG_INVALID', `limit must be a non-negative integer, got ${limit}`);
  const byLabel = indicesByLabel(labels, numClasses).map((ix) => shuffled(ix, rng));
  const take = new Int32Array(numClasses);
  let left = Math.min(limit, labels.length);
  while (left > 0) {
    for (let c = 0; c < numClasses && left > 0; c++) {
      if (take[c] < byLabel[c].length) {
        take[c]++;
        left--;
      }
    }
  }
  const out: number[] = [];
  for (let c = 0; c < numClasses; c++) for (let k = 0; k < take[c]; k++) out.push(byLabel[c][k]);
  return Int32Array.from(out.sort((a, b) => a - b));
}

/**
 * Stratified hold-out: `round(n * fraction)` samples in all, each label contributing in
 * proportion (largest-remainder rounding, so the per-label shares are as exact as
 * integers allow and the total is exact).
 */
export function stratifiedSplitIndices(labels: Int32Array, numClasses: number, fraction: number, rng: Rng): { train: Int32Array; holdout: Int32Array } {
  if (!(fraction >= 0 && fraction <= 1)) throw new SpruftError('CONFIG_INVALID', `the hold-out fraction must be in [0, 1], got ${fraction}`);
  const byLabel = indicesByLabel(labels, numClasses);
  const target = Math.round(labels.length * fraction);
  const share = byLabel.map((ix) => ix.length * fraction);
  const take = share.map(Math.floor);
  let missing = target - take.reduce((a, b) => a + b, 0);
  const order = share.map((_, c) => c).sort((a, b) => share[b] - take[b] - (share[a] - take[a]) || a - b);
  for (const c of order) {
    if (missing <= 0) break;
    if (take[c] < byLabel[c].length) {
      take[c]++;
      missing--;
    }
  }
  const train: number[] = [];
  const holdout: number[] = [];
  byLabel.forEach((ix, c) => {
    const s = shuffled(ix, rng);
    for (let k = 0; k < s.length; k++) (k < take[c] ? holdout : train).push(s[k]);
  });
  const asc = (a: number, b: number): number => a - b;
  return { train: Int32Array.from(train.sort(asc)), holdout: Int32Array.from(holdout.sort(asc)) };
}

/**
 * Keep the given labels (by index or name) and renumber them 0.. in the order given. Returns
 * the kept sample indices and the new labels.
 */
export function selectLabelIndices(labels: Int32Array, labelNames: string[], classes: Array<number | string>): { indices: Int32Array; labels: Int32Array; labelNames: string[] } {
  const mapping = new Int32Array(labelNames.length).fill(-1);
  const names: string[] = [];
  classes.forEach((cls, newLabel) => {
    const old = typeof cls === 'number' ? cls : labelNames.indexOf(cls);
    if (!Number.isInteger(old) || old < 0 || old >= labelNames.length) {
      throw new SpruftError('CONFIG_INVALID', `class ${JSON.stringify(cls)} is not one of this dataset's labels (${labelNames.map((n, i) => `${i}: ${n}`).join(', ')})`);
    }
    if (mapping[old] !== -1) throw new SpruftError('CONFIG_INVALID', `class ${JSON.stringify(cls)} is selected twice`);
    mapping[old] = newLabel;
    names.push(labelNames[old]);
  });
  const indices: number[] = [];
  const newLabels: number[] = [];
  for (let i = 0; i < labels.length; i++) {
    const m = mapping[labels[i]];
    if (m >= 0) {
      indices.push(i);
      newLabels.push(m);
    }
  }
  return { indices: Int32Array.from(indices), labels: Int32Array.from(newLabels), labelNames: names };
}
