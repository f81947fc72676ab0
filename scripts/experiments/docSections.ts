/**
 * Generated sections of a Markdown document: the text between
 * `<!-- <name>:begin -->` and `<!-- <name>:end -->` belongs to the script that writes it;
 * everything else is left as written by hand.
 */
export function replaceSection(doc: string, name: string, body: string): string {
  const begin = `<!-- ${name}:begin (generated; edits here are overwritten) -->`;
  const end = `<!-- ${name}:end -->`;
  const block = `${begin}\n${body.trim()}\n${end}`;
  const start = doc.indexOf(`<!-- ${name}:begin`);
  const stop = doc.indexOf(end);
  if (start >= 0 && stop > start) return doc.slice(0, start) + block + doc.slice(stop + end.length);
  return `${doc.trimEnd()}\n\n${block}\n`;
}
