/**
 * BERT's uncased WordPiece as the fixture scripts need it (building bert-tiny's vocabulary,
 * encoding its pretraining text): basic tokenization (lowercase, accents stripped, split on
 * whitespace and punctuation), then greedy longest-match-first pieces with "##" for
 * continuations, [UNK] for a word that cannot be pieced. The runner's tokenizers read
 * tokenizer.json instead; this is for the scripts only.
 */
const isPunct = (ch: string): boolean => /[!-/:-@[-`{-~]/.test(ch) || /\p{P}/u.test(ch);

export function basicTokens(text: string): string[] {
  const clean = text.toLowerCase().normalize('NFD').replace(/\p{Mn}/gu, '');
  const out: string[] = [];
  for (const word of clean.split(/\s+/)) {
    let cur = '';
    for (const ch of word) {
      if (isPunct(ch)) {
        if (cur) out.push(cur);
        out.push(ch);
        cur = '';
      } else cur += ch;
    }
    if (cur) out.push(cur);
  }
  return out;
}

/** The pieces of one basic token: a list of ids, one per piece. */
export function wordPieces(word: string, vocab: Map<string, number>, unk: number, maxChars = 100): number[] {
  const chars = [...word];
  if (chars.length > maxChars) return [unk];
  const ids: number[] = [];
  let start = 0;
  while (start < chars.length) {
    let end = chars.length;
    let found: number | undefined;
    while (start < end) {
      const piece = (start > 0 ? '##' : '') + chars.slice(start, end).join('');
      found = vocab.get(piece);
      if (found !== undefined) break;
      end--;
    }
    if (found === undefined) return [unk];
    ids.push(found);
    start = end;
  }
  return ids;
}

/** Words of a text with their WordPiece ids (so that whole words can be moved together). */
export function encodeWords(text: string, vocab: Map<string, number>, unk: number): number[][] {
  return basicTokens(text).map((w) => wordPieces(w, vocab, unk));
}
