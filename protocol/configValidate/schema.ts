/**
 * The run-config schema (protocol/config.ts) as the checks read it: the JSON Schema
 * keywords they understand, key paths into it, and what a path allows.
 */
import { RunConfigSchema, type CompletionHint } from '../config';

export type ConfigPath = Array<string | number>;

/** The JSON Schema keywords the walker below understands (a test keeps the schema within them). */
export const UNDERSTOOD_KEYWORDS = [
  'type', 'properties', 'required', 'additionalProperties', 'items', 'enum', 'anyOf', 'const', 'allOf', 'not',
  'minimum', 'maximum', 'exclusiveMinimum', 'exclusiveMaximum', 'minLength', 'pattern', 'patternErrorMessage',
  'minItems', 'uniqueItems', 'default', 'description', 'markdownDescription', 'markdownEnumDescriptions',
  'errorMessage', 'x-completion', 'x-aliases',
] as const;

/** The part of JSON Schema that protocol/config.ts uses, as the walker reads it. */
export interface SchemaNode {
  type?: 'object' | 'array' | 'string' | 'number' | 'integer' | 'boolean';
  properties?: Record<string, SchemaNode>;
  required?: string[];
  additionalProperties?: boolean;
  items?: SchemaNode;
  enum?: Array<string | number>;
  anyOf?: SchemaNode[];
  const?: string | number | boolean;
  allOf?: Array<{ not?: { required?: string[] }; errorMessage?: string }>;
  minimum?: number;
  maximum?: number;
  exclusiveMinimum?: number;
  exclusiveMaximum?: number;
  minLength?: number;
  pattern?: string;
  patternErrorMessage?: string;
  minItems?: number;
  uniqueItems?: boolean;
  default?: unknown;
  description?: string;
  markdownDescription?: string;
  markdownEnumDescriptions?: string[];
  errorMessage?: string;
  'x-completion'?: CompletionHint;
  'x-aliases'?: string[];
}

/** The run-config schema seen through the keywords above (TypeBox schemas are JSON Schema). */
export const runConfigSchema: SchemaNode = RunConfigSchema as unknown as SchemaNode;

export function schemaAt(path: ConfigPath, root: SchemaNode = runConfigSchema): SchemaNode | undefined {
  let node: SchemaNode | undefined = root;
  for (const segment of path) {
    if (!node) return undefined;
    node = typeof segment === 'number' ? node.items : node.properties?.[segment];
  }
  return node;
}

/** Values an enum-like schema allows (`enum`, or an `anyOf` of `const`s). */
export function allowedValues(schema: SchemaNode): Array<string | number> | undefined {
  if (schema.enum) return schema.enum;
  if (schema.anyOf && schema.anyOf.every((s) => s.const !== undefined)) return schema.anyOf.map((s) => s.const as string | number);
  return undefined;
}

export function formatPath(path: ConfigPath): string {
  let out = '';
  for (const segment of path) out += typeof segment === 'number' ? `[${segment}]` : out ? `.${segment}` : segment;
  return out;
}

/** Every key the schema knows, wherever it is, with its paths (for "it belongs in ..."). */
export function allSchemaKeys(root: SchemaNode = runConfigSchema): Map<string, ConfigPath[]> {
  const out = new Map<string, ConfigPath[]>();
  const visit = (node: SchemaNode, path: ConfigPath): void => {
    for (const [key, child] of Object.entries(node.properties ?? {})) {
      const list = out.get(key) ?? [];
      list.push([...path, key]);
      out.set(key, list);
      visit(child, [...path, key]);
    }
    if (node.items) visit(node.items, [...path, 0]);
  };
  visit(root, []);
  return out;
}

/** The first sentence of a key's docs, without markdown, for messages. */
export function summaryOf(schema: SchemaNode | undefined): string {
  const text = schema?.description ?? '';
  const end = text.search(/\.(\s|$)/);
  return end < 0 ? text : text.slice(0, end + 1);
}
