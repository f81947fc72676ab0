/**
 * Reading a run-config text, keeping source ranges: `yaml` parses it (a `*.spruft.json`
 * file the same way: JSON is YAML, and JSON.parse then holds it to JSON). Texts that are
 * too large or not text are refused before parsing. Never throws: problems are findings.
 */
import { parseDocument, type Document } from 'yaml';
import type { ConfigDiagnostic, ConfigRange, ConfigSeverity } from '../diagnostics';
import { formatBytes } from '../format';
import { LineIndex } from '../lineIndex';

export type ConfigSyntax = 'yaml' | 'json';

/** Run configs are a few KB; above this the text is refused unparsed (and answered at once). */
export const MAX_CONFIG_CHARS = 256 * 1024;

export interface ParsedRunConfig {
  text: string;
  syntax: ConfigSyntax;
  lines: LineIndex;
  /** Absent when the text was refused before parsing (too large, not text). */
  document?: Document.Parsed;
  /** Findings of reading: refusal, YAML syntax, duplicate keys. */
  diagnostics: ConfigDiagnostic[];
}

export function configSyntaxOf(fileName: string): ConfigSyntax {
  return /\.json$/i.test(fileName) ? 'json' : 'yaml';
}

export function firstLineRange(lines: LineIndex): ConfigRange {
  return { start: { line: 0, character: 0 }, end: { line: 0, character: Math.min(lines.lineText(0).length, 200) } };
}

/** YAML's own messages, reworded where the plain one does not say what to do. */
const YAML_HINTS: Partial<Record<string, string>> = {
  TAB_AS_INDENT: 'Indent with spaces: YAML does not allow tabs for indentation.',
  BLOCK_AS_IMPLICIT_KEY: 'A key and its value must be on one line, or the nested keys on their own lines, indented.',
  MULTIPLE_DOCS: 'A run config is one YAML document: remove the `---` separator and what follows, or put it in its own file.',
  MISSING_CHAR: 'Close the quote or bracket that is still open.',
  MULTILINE_IMPLICIT_KEY: 'A key must fit on one line and end with `:`.',
};

/**
 * Parse a run-config text, keeping source ranges. Never throws: what cannot be read
 * becomes findings.
 */
export function parseRunConfig(text: string, syntax: ConfigSyntax = 'yaml'): ParsedRunConfig {
  const lines = new LineIndex(text);
  const diagnostics: ConfigDiagnostic[] = [];
  if (text.length > MAX_CONFIG_CHARS) {
    diagnostics.push({
      severity: 'error',
      code: 'file-too-large',
      message: `This file has ${formatBytes(text.length)} of text; a run config has a few KiB, and files above ${formatBytes(MAX_CONFIG_CHARS)} are not checked. Is this the right file?`,
      range: firstLineRange(lines),
      path: [],
    });
    return { text, syntax, lines, diagnostics };
  }
  // YAML excludes C0 control characters other than tab and line breaks; finding one
  // means the file is not text (a model, an archive) opened as a config.
  const control = /[\u0000-\u0008\u000B\u000C\u000E-\u001F\u007F]/.exec(text);
  if (control) {
    const at = lines.positionAt(control.index);
    diagnostics.push({
      severity: 'error',
      code: 'not-text',
      message: `This is not a text file: it holds the control byte 0x${control[0].charCodeAt(0).toString(16).padStart(2, '0')} at line ${at.line + 1}, column ${at.character + 1}. A run config is YAML (or JSON) text.`,
      range: lines.range(control.index, control.index + 1),
      path: [],
    });
    return { text, syntax, lines, diagnostics };
  }
  const document = parseDocument(text, { prettyErrors: false, uniqueKeys: false, keepSourceTokens: false });
  let tooDeep = false;
  for (const [severity, list] of [['error', document.errors], ['warning', document.warnings]] as const) {
    for (const error of list) {
      if (error.code === 'RESOURCE_EXHAUSTION') {
        // One finding for the lot: YAML reports it at every level it unwinds.
        if (!tooDeep) {
          tooDeep = true;
          diagnostics.push({
            severity: 'error',
            code: 'too-deep',
            message: 'The nesting is too deep to read (a run config nests 4 levels at most). Remove the nested brackets or list markers.',
            range: lines.range(error.pos[0], Math.max(error.pos[1], error.pos[0] + 1)),
            path: [],
          });
        }
        continue;
      }
      const hint = YAML_HINTS[error.code];
      const plain = error.message.replace(/ at line \d+, column \d+[\s\S]*$/, '').trim();
      diagnostics.push({
        severity: severity as ConfigSeverity,
        code: 'yaml-syntax',
        message: `${syntax === 'json' ? 'JSON' : 'YAML'} syntax: ${plain.endsWith('.') ? plain : plain + '.'}${hint ? ' ' + hint : ''}`,
        range: lines.range(error.pos[0], Math.max(error.pos[1], error.pos[0] + 1)),
        path: [],
      });
    }
  }
  // YAML reads more than JSON allows (`{"a": }`, comments, single quotes); a .json file
  // must be JSON, so what JSON.parse refuses is a syntax error too.
  if (syntax === 'json' && diagnostics.length === 0) {
    try {
      JSON.parse(text);
    } catch (err) {
      const message = err instanceof Error ? err.message : String(err);
      const position = /at position (\d+)/.exec(message);
      const offset = position ? Number(position[1]) : 0;
      diagnostics.push({
        severity: 'error',
        code: 'yaml-syntax',
        message: `JSON syntax: ${message.replace(/ in JSON at position \d+.*$/, '').replace(/, ".*" is not valid JSON$/, '')}.`,
        range: position ? lines.range(offset, Math.min(offset + 1, text.length)) : firstLineRange(lines),
        path: [],
      });
    }
  }
  // What was read of a document nested too deeply is not worth checking further.
  return { text, syntax, lines, ...(tooDeep ? {} : { document }), diagnostics };
}
