/**
 * Typed reads of the walked value for the rules between keys: what the file says where
 * it said it validly, else the schema's default.
 */
import { schemaAt, type ConfigPath } from './schema';

/** Typed reads of the walked value: the file's value when valid, else the schema default. */
export class ConfigView {
  constructor(readonly value: unknown) {}

  raw(path: ConfigPath): unknown {
    let node: unknown = this.value;
    for (const segment of path) {
      if (node === null || typeof node !== 'object') return undefined;
      node = (node as Record<string | number, unknown>)[segment];
    }
    return node;
  }

  has(path: ConfigPath): boolean {
    let node: unknown = this.value;
    for (const segment of path) {
      if (node === null || typeof node !== 'object' || !(segment in (node as object))) return false;
      node = (node as Record<string | number, unknown>)[segment];
    }
    return true;
  }

  /** The value in effect: the file's (when it was valid) or the schema's default. */
  effective(path: ConfigPath): unknown {
    const v = this.raw(path);
    if (v !== undefined) return v;
    // Present but invalid: nothing is in effect, and rules that read it stay quiet.
    return this.has(path) ? undefined : schemaAt(path)?.default;
  }

  string(path: ConfigPath): string | undefined {
    const v = this.effective(path);
    return typeof v === 'string' ? v : undefined;
  }

  number(path: ConfigPath): number | undefined {
    const v = this.effective(path);
    return typeof v === 'number' ? v : undefined;
  }

  list(path: ConfigPath): unknown[] {
    const v = this.effective(path);
    return Array.isArray(v) ? v : [];
  }

  /** Methods this run trains: `method` and those in `compare`. */
  methods(): string[] {
    const method = this.string(['method']);
    return [...(method ? [method] : []), ...this.list(['compare']).filter((m): m is string => typeof m === 'string')];
  }
}
