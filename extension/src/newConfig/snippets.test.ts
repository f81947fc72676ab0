/**
 * The contributed snippets expand to configs the schema accepts: each whole-run snippet,
 * with every placeholder at its default (the first choice of a choice list), passes the
 * run-config checks with no error.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { it } from 'node:test';
import { checkRunConfigText } from '../../../protocol/configValidate';

const root = join(__dirname, '..', '..', '..');
const snippets = JSON.parse(readFileSync(join(root, 'snippets', 'spruft-config.json'), 'utf8')) as Record<string, { prefix: string[]; body: string[]; description: string }>;

/** What VS Code inserts when every placeholder keeps its default. */
function expand(body: string[]): string {
  return body
    .join('\n')
    .replace(/\$\{\d+\|([^,|]*)[^}]*\}/g, '$1')
    .replace(/\$\{\d+:([^}]*)\}/g, '$1')
    .replace(/\$\d+/g, '');
}

for (const [name, snippet] of Object.entries(snippets)) {
  it(`snippet "${name}" expands to valid YAML the schema accepts`, () => {
    assert.ok(snippet.prefix.length > 0 && snippet.description.length > 0);
    const text = expand(snippet.body);
    assert.doesNotMatch(text, /\$\{|\$\d/, 'every placeholder expanded');
    // A section snippet is checked inside a minimal whole config.
    const whole = text.startsWith('#') ? text : `model:\n  path: m\ntask: image-classification\ndata:\n  dataset: mnist\n${text}`;
    const errors = checkRunConfigText(whole, 'yaml').diagnostics.filter((d) => d.severity === 'error');
    assert.deepEqual(errors.map((e) => `${e.range.start.line + 1}: ${e.message}`), []);
  });
}
