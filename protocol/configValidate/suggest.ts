/**
 * "Did you mean": names near a misspelt one (keys, values, files, layers), and the few
 * helpers that put names and values into a message.
 */

export function normalizedName(name: string): string {
  return name.toLowerCase().replace(/[_\-\s]/g, '');
}

/** Optimal string alignment distance (Levenshtein with adjacent transpositions). */
export function editDistance(a: string, b: string, cap = Infinity): number {
  if (Math.abs(a.length - b.length) > cap) return cap + 1;
  let prev2: number[] = [];
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const row = [i];
    let best = i;
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let d = Math.min(prev[j]! + 1, row[j - 1]! + 1, prev[j - 1]! + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) d = Math.min(d, prev2[j - 2]! + 1);
      row.push(d);
      best = Math.min(best, d);
    }
    if (best > cap) return cap + 1;
    prev2 = prev;
    prev = row;
  }
  return prev[b.length]!;
}

/**
 * The candidates nearest to `word`, best first, ignoring case, `_` and `-`. Only close
 * ones (see the default `maxDistance` below); `Infinity` always names the nearest.
 */
export function nearestNames(word: string, candidates: Iterable<string>, options: { limit?: number; maxDistance?: number } = {}): string[] {
  const limit = options.limit ?? 3;
  const w = normalizedName(word);
  // Short words need close matches: "lr" is not a typo of "lora".
  const cap = options.maxDistance ?? (w.length <= 3 ? 1 : w.length <= 6 ? 2 : Math.floor(w.length / 3));
  const scored: Array<{ name: string; score: number }> = [];
  const seen = new Set<string>();
  for (const name of candidates) {
    if (seen.has(name)) continue;
    seen.add(name);
    const n = normalizedName(name);
    let score = n === w ? 0 : editDistance(w, n, cap);
    // Dotted names (layers) are also compared by their tails: `q_prj` is near `model.q_proj`.
    const segments = name.split('.');
    for (let i = 1; i < segments.length && score > 1; i++) {
      score = Math.min(score, editDistance(w, normalizedName(segments.slice(i).join('.')), cap) + 1);
    }
    // A word that is a whole part of a longer name ("proj" in "q_proj") is near it.
    if (score > cap && w.length >= 3 && n.includes(w)) score = cap;
    if (score <= cap) scored.push({ name, score });
  }
  scored.sort((x, y) => x.score - y.score || x.name.length - y.name.length || (x.name < y.name ? -1 : 1));
  return scored.slice(0, limit).map((s) => s.name);
}

/** `a`, `b` or `c`: values as code, in a sentence. */
export function codeList(values: ReadonlyArray<string | number>, conjunction = 'or'): string {
  const quoted = values.map((v) => `\`${v}\``);
  return quoted.length <= 1 ? quoted.join('') : `${quoted.slice(0, -1).join(', ')} ${conjunction} ${quoted[quoted.length - 1]}`;
}

/** A value as written, on one line and at most 40 characters. */
export function showValue(source: string): string {
  const oneLine = source.replace(/\s+/g, ' ').trim();
  return oneLine.length > 40 ? `${oneLine.slice(0, 37)}...` : oneLine;
}
