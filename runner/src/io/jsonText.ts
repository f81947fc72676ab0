/**
 * JSON files with errors a person can act on (`file:line:col: what is wrong`), and a
 * parser for JavaScript object literals, used to read model files that packages ship
 * wrapped in JavaScript (nsfwjs' `model.min.js`) without ever executing them.
 *
 * `JSON.parse` does the real parsing of JSON (fast); when it fails, a small strict scanner
 * re-reads the text to find where, because V8's messages do not always give a position.
 */
import { LineIndex } from '../../../protocol/lineIndex';
import { SpruftError, type ErrorCode } from '../errors';
import { READ_LIMITS, readTextFile } from './regularFile';

export interface TextPosition {
  offset: number;
  /** 1-based. */
  line: number;
  /** 1-based, in UTF-16 code units like VS Code's columns. */
  column: number;
}

/** protocol/lineIndex.ts's position, counted from 1 as editors print it. */
export function positionAt(text: string, offset: number): TextPosition {
  const at = new LineIndex(text).positionAt(offset);
  return { offset, line: at.line + 1, column: at.character + 1 };
}

class LiteralSyntaxError extends Error {
  constructor(
    message: string,
    readonly offset: number,
  ) {
    super(message);
  }
}

const MAX_DEPTH = 1000;

function isIdentStart(c: number): boolean {
  return (c >= 65 && c <= 90) || (c >= 97 && c <= 122) || c === 36 || c === 95;
}

function isIdentPart(c: number): boolean {
  return isIdentStart(c) || (c >= 48 && c <= 57);
}

function isDigit(c: number): boolean {
  return c >= 48 && c <= 57;
}

/**
 * Recursive-descent reader of one value. `json` mode is strict RFC 8259; `js` mode accepts
 * the literal subset minifiers emit: unquoted and single-quoted keys, `!0`/`!1`, `.5`,
 * hex numbers, `1/0`, `void 0`, trailing commas, comments. Anything else (a call, a
 * variable, an operator) is an error, so no code is ever run.
 */
class LiteralScanner {
  pos: number;
  private depth = 0;

  constructor(
    readonly text: string,
    readonly mode: 'json' | 'js',
    start: number,
  ) {
    this.pos = start;
  }

  fail(reason: string, at = this.pos): never {
    throw new LiteralSyntaxError(reason, at);
  }

  private describeHere(): string {
    if (this.pos >= this.text.length) return 'the end of the text';
    return `'${this.text[this.pos]}'`;
  }

  skipSpace(): void {
    const t = this.text;
    for (;;) {
      const c = t.charCodeAt(this.pos);
      if (c === 32 || c === 9 || c === 10 || c === 13) {
        this.pos++;
      } else if (this.mode === 'js' && (c === 0xfeff || c === 0x2028 || c === 0x2029 || c === 11 || c === 12 || c === 0xa0)) {
        this.pos++;
      } else if (this.mode === 'js' && c === 47 && t.charCodeAt(this.pos + 1) === 47) {
        const nl = t.indexOf('\n', this.pos);
        this.pos = nl < 0 ? t.length : nl + 1;
      } else if (this.mode === 'js' && c === 47 && t.charCodeAt(this.pos + 1) === 42) {
        const close = t.indexOf('*/', this.pos + 2);
        if (close < 0) this.fail('unterminated comment');
        this.pos = close + 2;
      } else {
        return;
      }
    }
  }

  value(): unknown {
    this.skipSpace();
    const t = this.text;
    const c = t.charCodeAt(this.pos);
    if (c === 123) return this.nested(() => this.object());
    if (c === 91) return this.nested(() => this.array());
    if (c === 34 || (c === 39 && this.mode === 'js')) return this.string();
    if (isDigit(c) || c === 45 || (this.mode === 'js' && (c === 46 || c === 43))) return this.numberExpression();
    if (this.mode === 'js' && c === 33) {
      // `!0` is true, `!1` is false in minified code.
      this.pos++;
      this.skipSpace();
      const start = this.pos;
      const operand = this.value();
      if (typeof operand !== 'number' && typeof operand !== 'boolean') {
        this.fail('only !<number> or !<boolean> is accepted after !', start);
      }
      return !operand;
    }
    if (isIdentStart(c)) {
      const start = this.pos;
      const word = this.identifier();
      switch (word) {
        case 'true':
          return true;
        case 'false':
          return false;
        case 'null':
          return null;
      }
      if (this.mode === 'js') {
        switch (word) {
          case 'undefined':
            return undefined;
          case 'NaN':
            return NaN;
          case 'Infinity':
            return Infinity;
          case 'void': {
            this.skipSpace();
            const operand = this.value();
            if (typeof operand !== 'number') this.fail('only void <number> is accepted', start);
            return undefined;
          }
        }
        this.fail(`'${word}' is code, not a literal value (this reader never runs code)`, start);
      }
      this.fail(`unexpected word '${word}' (strings need double quotes; literals are true, false, null)`, start);
    }
    this.fail(`expected a value but found ${this.describeHere()}`);
  }

  private nested<T>(read: () => T): T {
    if (++this.depth > MAX_DEPTH) this.fail(`nesting deeper than ${MAX_DEPTH} levels`);
    const v = read();
    this.depth--;
    return v;
  }

  private identifier(): string {
    const start = this.pos;
    while (this.pos < this.text.length && isIdentPart(this.text.charCodeAt(this.pos))) this.pos++;
    return this.text.slice(start, this.pos);
  }

  private object(): Record<string, unknown> {
    const out: Record<string, unknown> = {};
    this.pos++; // {
    this.skipSpace();
    if (this.text.charCodeAt(this.pos) === 125) {
      this.pos++;
      return out;
    }
    for (;;) {
      this.skipSpace();
      const c = this.text.charCodeAt(this.pos);
      let key: string;
      if (c === 34 || (c === 39 && this.mode === 'js')) key = this.string();
      else if (this.mode === 'js' && isIdentStart(c)) key = this.identifier();
      else if (this.mode === 'js' && (isDigit(c) || c === 46)) key = String(this.number());
      else if (this.mode === 'js' && c === 125) {
        // Trailing comma before }.
        this.pos++;
        return out;
      } else this.fail(`expected a property name in double quotes but found ${this.describeHere()}`);
      this.skipSpace();
      if (this.text.charCodeAt(this.pos) !== 58) this.fail(`expected ':' after property name "${key}" but found ${this.describeHere()}`);
      this.pos++;
      const v = this.value();
      // A key named __proto__ becomes an own property (as JSON.parse does), never a prototype.
      Object.defineProperty(out, key, { value: v, enumerable: true, writable: true, configurable: true });
      if (!this.more(125, `',' or '}' after the value of "${key}"`)) return out;
    }
  }

  private array(): unknown[] {
    const out: unknown[] = [];
    this.pos++; // [
    this.skipSpace();
    if (this.text.charCodeAt(this.pos) === 93) {
      this.pos++;
      return out;
    }
    for (;;) {
      this.skipSpace();
      if (this.text.charCodeAt(this.pos) === 44) this.fail('empty array element');
      if (this.mode === 'js' && this.text.charCodeAt(this.pos) === 93) {
        this.pos++;
        return out;
      }
      out.push(this.value());
      if (!this.more(93, "',' or ']' in an array")) return out;
    }
  }

  /**
   * After a member or element: true past a ',' (another follows), false past the
   * closing `close` (} or ]). JSON refuses a trailing comma; JS-style text allows it.
   */
  private more(close: number, expected: string): boolean {
    this.skipSpace();
    const sep = this.text.charCodeAt(this.pos);
    if (sep === 44) {
      this.pos++;
      if (this.mode === 'json') {
        this.skipSpace();
        if (this.text.charCodeAt(this.pos) === close) this.fail(`trailing comma before ${String.fromCharCode(close)}`);
      }
      return true;
    }
    if (sep !== close) this.fail(`expected ${expected} but found ${this.describeHere()}`);
    this.pos++;
    return false;
  }

  private string(): string {
    const t = this.text;
    const quote = t.charCodeAt(this.pos);
    const start = this.pos;
    this.pos++;
    let out = '';
    let runStart = this.pos;
    for (;;) {
      if (this.pos >= t.length) this.fail('unterminated string', start);
      const c = t.charCodeAt(this.pos);
      if (c === quote) {
        out += t.slice(runStart, this.pos);
        this.pos++;
        return out;
      }
      if (c < 0x20 && (this.mode === 'json' || c === 10 || c === 13)) {
        this.fail(c === 10 ? 'line break inside a string' : 'control character inside a string');
      }
      if (c !== 92) {
        this.pos++;
        continue;
      }
      out += t.slice(runStart, this.pos);
      const e = t[this.pos + 1];
      this.pos += 2;
      switch (e) {
        case '"':
        case '\\':
        case '/':
          out += e;
          break;
        case 'b':
          out += '\b';
          break;
        case 'f':
          out += '\f';
          break;
        case 'n':
          out += '\n';
          break;
        case 'r':
          out += '\r';
          break;
        case 't':
          out += '\t';
          break;
        case 'u': {
          if (this.mode === 'js' && t[this.pos] === '{') {
            const close = t.indexOf('}', this.pos);
            const hex = close < 0 ? '' : t.slice(this.pos + 1, close);
            if (!/^[0-9a-fA-F]{1,6}$/.test(hex) || parseInt(hex, 16) > 0x10ffff) this.fail('bad \\u{...} escape', this.pos - 2);
            out += String.fromCodePoint(parseInt(hex, 16));
            this.pos = close + 1;
            break;
          }
          const hex = t.slice(this.pos, this.pos + 4);
          if (!/^[0-9a-fA-F]{4}$/.test(hex)) this.fail('bad \\u escape (needs 4 hex digits)', this.pos - 2);
          out += String.fromCharCode(parseInt(hex, 16));
          this.pos += 4;
          break;
        }
        default: {
          if (this.mode === 'json' || e === undefined) this.fail(`bad escape '\\${e ?? ''}' in a string`, this.pos - 2);
          if (e === "'") out += "'";
          else if (e === 'v') out += '\v';
          else if (e === '0' && !isDigit(t.charCodeAt(this.pos))) out += '\0';
          else if (e === 'x') {
            const hex = t.slice(this.pos, this.pos + 2);
            if (!/^[0-9a-fA-F]{2}$/.test(hex)) this.fail('bad \\x escape', this.pos - 2);
            out += String.fromCharCode(parseInt(hex, 16));
            this.pos += 2;
          } else if (e === '\n') {
            // Line continuation.
          } else if (e === '\r') {
            if (t[this.pos] === '\n') this.pos++;
          } else if (isDigit(e.charCodeAt(0))) this.fail('octal escapes are not accepted', this.pos - 2);
          else out += e;
        }
      }
      runStart = this.pos;
    }
  }

  /** A number, with a sign, and in js mode a division (`1/0`) and Infinity. */
  private numberExpression(): number {
    const t = this.text;
    let sign = 1;
    const c = t.charCodeAt(this.pos);
    if (c === 45 || c === 43) {
      if (c === 43 && this.mode === 'json') this.fail("'+' is not allowed before a number");
      if (c === 45) sign = -1;
      this.pos++;
      if (this.mode === 'js') {
        this.skipSpace();
        if (t.startsWith('Infinity', this.pos)) {
          this.pos += 8;
          return sign * Infinity;
        }
      }
    }
    let v = sign * this.number();
    if (this.mode === 'js') {
      const save = this.pos;
      this.skipSpace();
      if (t.charCodeAt(this.pos) === 47) {
        this.pos++;
        this.skipSpace();
        const d = t.charCodeAt(this.pos);
        if (!isDigit(d) && d !== 46) this.fail('only <number>/<number> is accepted as a division');
        v = v / this.number();
      } else {
        this.pos = save;
      }
    }
    return v;
  }

  private number(): number {
    const t = this.text;
    const start = this.pos;
    if (this.mode === 'js' && t.charCodeAt(this.pos) === 48 && (t[this.pos + 1] === 'x' || t[this.pos + 1] === 'X')) {
      this.pos += 2;
      const hexStart = this.pos;
      while (/[0-9a-fA-F]/.test(t[this.pos] ?? '')) this.pos++;
      if (this.pos === hexStart) this.fail('bad hexadecimal number', start);
      return parseInt(t.slice(hexStart, this.pos), 16);
    }
    const digits = (): number => {
      const s = this.pos;
      while (isDigit(t.charCodeAt(this.pos))) this.pos++;
      return this.pos - s;
    };
    const intDigits = digits();
    if (this.mode === 'json') {
      if (intDigits === 0) this.fail('expected a digit', this.pos);
      if (intDigits > 1 && t.charCodeAt(start) === 48) this.fail('numbers cannot have leading zeros', start);
    }
    if (t.charCodeAt(this.pos) === 46) {
      this.pos++;
      const frac = digits();
      if (frac === 0 && (this.mode === 'json' || intDigits === 0)) this.fail('expected a digit after the decimal point');
    } else if (intDigits === 0) {
      this.fail('expected a digit', this.pos);
    }
    const e = t.charCodeAt(this.pos);
    if (e === 101 || e === 69) {
      this.pos++;
      const s = t.charCodeAt(this.pos);
      if (s === 43 || s === 45) this.pos++;
      if (digits() === 0) this.fail('expected a digit in the exponent');
    }
    if (this.mode === 'js' && isIdentStart(t.charCodeAt(this.pos))) this.fail('unexpected letter after a number');
    return Number(t.slice(start, this.pos));
  }
}

/** Where strict JSON text first goes wrong, or undefined if it is valid. */
export function locateJsonError(text: string): { offset: number; reason: string } | undefined {
  const scanner = new LiteralScanner(text, 'json', 0);
  try {
    scanner.value();
    scanner.skipSpace();
    if (scanner.pos < text.length) scanner.fail(`unexpected '${text[scanner.pos]}' after the end of the JSON value`);
    return undefined;
  } catch (err) {
    if (err instanceof LiteralSyntaxError) return { offset: err.offset, reason: err.message };
    throw err;
  }
}

/**
 * Parse JSON text; on a syntax error throw `SpruftError(code)` whose `where` is
 * `path:line:col`. A leading byte-order mark (Windows editors write one) is ignored.
 */
export function parseJsonText(text: string, path: string, code: ErrorCode, what = 'file'): unknown {
  const body = text.charCodeAt(0) === 0xfeff ? text.slice(1) : text;
  try {
    return JSON.parse(body);
  } catch (err) {
    const found = locateJsonError(body);
    if (found) {
      // Columns as an editor shows them: the (invisible) byte-order mark is not counted.
      const pos = positionAt(body, found.offset);
      throw new SpruftError(code, `${what} is not valid JSON: ${found.reason}; fix the file or regenerate it`, `${path}:${pos.line}:${pos.column}`);
    }
    const detail = err instanceof Error ? err.message : String(err);
    throw new SpruftError(code, `${what} is not valid JSON (${detail}); fix the file or regenerate it`, path);
  }
}

/** Read and parse a JSON file; a missing file is FILE_NOT_FOUND, bad JSON is `code`. */
export function readJsonFile(path: string, code: ErrorCode, what = 'file'): unknown {
  return parseJsonText(readTextFile(path, what, code, READ_LIMITS.documentBytes), path, code, what);
}

/**
 * Parse the JavaScript literal (object, array, string, number...) that starts at `start`
 * in `text`. Returns the value and the offset just after it. Throws `SpruftError(code)`
 * with `where` = `path:line:col` if the text there is not a plain literal.
 */
export function parseJsLiteral(text: string, start: number, path: string, code: ErrorCode): { value: unknown; end: number } {
  const scanner = new LiteralScanner(text, 'js', start);
  try {
    const value = scanner.value();
    return { value, end: scanner.pos };
  } catch (err) {
    if (err instanceof LiteralSyntaxError) {
      const pos = positionAt(text, err.offset);
      throw new SpruftError(code, `cannot read the embedded model data: ${err.message}`, `${path}:${pos.line}:${pos.column}`);
    }
    throw err;
  }
}
