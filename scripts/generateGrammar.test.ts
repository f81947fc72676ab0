import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { before, describe, it } from 'node:test';
import { loadWASM, OnigScanner, OnigString } from 'vscode-oniguruma';
import { INITIAL, Registry, parseRawGrammar, type IGrammar, type StateStack } from 'vscode-textmate';
import { GRAMMAR_PATH, grammarText } from './generateGrammar';

const ROOT = join(__dirname, '..');
let grammar: IGrammar;

/** Tokenize lines (with the state carried from line to line) and return each token's text and scopes. */
function tokenize(text: string): Array<{ text: string; scopes: string[] }> {
  let state: StateStack = INITIAL;
  const out: Array<{ text: string; scopes: string[] }> = [];
  for (const line of text.split('\n')) {
    const result = grammar.tokenizeLine(line, state);
    for (const token of result.tokens) out.push({ text: line.slice(token.startIndex, token.endIndex), scopes: token.scopes });
    state = result.ruleStack;
  }
  return out;
}

function scopesOf(text: string, token: string): string {
  const found = tokenize(text).find((t) => t.text.trim() === token);
  assert.ok(found, `"${token}" is a token of ${JSON.stringify(tokenize(text).map((t) => t.text))}`);
  return found.scopes.join(' ');
}

describe('the TextMate grammar', () => {
  before(async () => {
    const wasm = readFileSync(require.resolve('vscode-oniguruma/release/onig.wasm'));
    await loadWASM(wasm.buffer.slice(wasm.byteOffset, wasm.byteOffset + wasm.byteLength));
    const registry = new Registry({
      onigLib: Promise.resolve({ createOnigScanner: (patterns) => new OnigScanner(patterns), createOnigString: (s) => new OnigString(s) }),
      // VS Code's YAML grammar is not here; the parts of ours under test do not reach it.
      loadGrammar: async (scope) => (scope === 'source.spruft-config' ? parseRawGrammar(readFileSync(GRAMMAR_PATH, 'utf8'), GRAMMAR_PATH) : null),
    });
    const loaded = await registry.loadGrammar('source.spruft-config');
    assert.ok(loaded);
    grammar = loaded;
  });

  it('is what the generator writes from the schema (run scripts/generateGrammar.ts after changing protocol/config.ts)', () => {
    assert.equal(readFileSync(GRAMMAR_PATH, 'utf8'), grammarText());
  });

  it('highlights the keys the schema knows, and not others', () => {
    assert.match(scopesOf('training:\n  lr: 2e-5', 'lr'), /support\.type\.property-name\.spruft-config/);
    assert.match(scopesOf('  linearDecayTo: 0.01', 'linearDecayTo'), /support\.type\.property-name/);
    const unknown = scopesOf('  lerning_rate: 1', 'lerning_rate');
    assert.match(unknown, /entity\.name\.tag\.yaml/);
    assert.doesNotMatch(unknown, /support\.type\.property-name/);
    assert.match(scopesOf('data: {dataset: mnist, path: x}', 'dataset'), /support\.type\.property-name/);
  });

  it('highlights enum values, numbers, booleans, strings and comments', () => {
    assert.match(scopesOf('method: lora', 'lora'), /support\.constant\.spruft-config/);
    assert.match(scopesOf('    metric: qm-taylor  # class-aware', 'qm-taylor'), /support\.constant/);
    assert.match(scopesOf('data: {dataset: mnist, path: x}', 'mnist'), /support\.constant/);
    assert.match(scopesOf('  lr: 2e-5', '2e-5'), /constant\.numeric/);
    assert.match(scopesOf('  freezeAttention: true', 'true'), /constant\.language\.boolean/);
    assert.match(scopesOf('  include: ["*.mlp.*", q_proj]', '*.mlp.*'), /string\.quoted\.double/);
    assert.match(scopesOf('  include: ["*.mlp.*", q_proj]', 'q_proj'), /string\.unquoted\.plain/);
    assert.match(scopesOf('  path: ../models/llama-tiny', '../models/llama-tiny'), /string\.unquoted\.plain/);
    assert.match(scopesOf('# a comment', 'a comment'), /comment\.line\.number-sign/);
    assert.match(scopesOf('  epochs: 5  # paper C.1', 'paper C.1'), /comment\.line\.number-sign/);
    assert.match(scopesOf('  - model.norm', 'model.norm'), /string\.unquoted\.plain/);
    assert.doesNotMatch(scopesOf('name: lora-run', 'lora-run'), /support\.constant/, 'an enum word inside a longer value is plain text');
  });

  it('is registered in package.json with its language configuration and the JSON Schema', () => {
    const manifest = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as {
      contributes: {
        languages: Array<{ id: string; extensions: string[]; configuration: string }>;
        grammars: Array<{ language: string; scopeName: string; path: string }>;
        jsonValidation: Array<{ fileMatch: string[]; url: string }>;
      };
    };
    const language = manifest.contributes.languages.find((l) => l.id === 'spruft-config');
    assert.ok(language);
    assert.deepEqual(language.extensions, ['.spruft.yaml', '.spruft.yml']);
    const configuration = JSON.parse(readFileSync(join(ROOT, language.configuration), 'utf8')) as { comments: { lineComment: string } };
    assert.equal(configuration.comments.lineComment, '#');
    const entry = manifest.contributes.grammars.find((g) => g.language === 'spruft-config');
    assert.ok(entry && existsSync(join(ROOT, entry.path)));
    assert.equal(entry.scopeName, 'source.spruft-config');
    assert.deepEqual(manifest.contributes.jsonValidation, [{ fileMatch: ['*.spruft.json'], url: './dist/spruft-config.schema.json' }]);
  });
});
