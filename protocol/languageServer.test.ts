import assert from 'node:assert/strict';
import { it } from 'node:test';
import { DEFAULT_CHECK_SETTINGS, readCheckSettings, RUN_CONFIG_DOCUMENT_SELECTOR } from './languageServer';

it('reads the check settings, a value of the wrong type or a negative limit being the default', () => {
  assert.deepEqual(readCheckSettings({ semantic: false, memoryLimitGb: 12 }), { semantic: false, memoryLimitGb: 12 });
  assert.deepEqual(readCheckSettings({ semantic: 'no', memoryLimitGb: -1 }), DEFAULT_CHECK_SETTINGS);
  assert.deepEqual(readCheckSettings(null), { semantic: true, memoryLimitGb: 0 });
  assert.deepEqual(readCheckSettings(undefined), DEFAULT_CHECK_SETTINGS);
});

it('serves run-config YAML and *.spruft.json', () => {
  assert.ok(RUN_CONFIG_DOCUMENT_SELECTOR.some((f) => f.language === 'json' && 'pattern' in f && f.pattern === '**/*.spruft.json'));
  assert.ok(RUN_CONFIG_DOCUMENT_SELECTOR.some((f) => f.language === 'spruft-config' && f.scheme === 'untitled'));
});
