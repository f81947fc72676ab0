/**
 * package.json's contributions and the extension's tables name the same commands and
 * settings, every palette command has a `when` clause, and the .vsix allow-list keeps
 * what the installed extension loads.
 */
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { it } from 'node:test';
import { BACKENDS } from '../../protocol/config';
import { CHECK_SETTINGS, CHECK_SETTINGS_SECTION, RUN_CONFIG_LANGUAGE_ID } from '../../protocol/languageServer';
import { CommandId, DASHBOARD_VIEW_TYPE, RUNS_VIEW_ID, SETTINGS_SECTION, SettingKey } from './commandIds';

const root = join(__dirname, '..', '..');
const manifest = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as {
  main: string;
  activationEvents: string[];
  contributes: {
    commands: Array<{ command: string; title: string; category: string }>;
    menus: Record<string, Array<{ command: string; when?: string }>>;
    configuration: { properties: Record<string, { type?: string; default?: unknown; markdownDescription?: string }> };
    languages: Array<{ id: string }>;
  };
  capabilities: { untrustedWorkspaces: { supported: string; restrictedConfigurations: string[] } };
};

it('contributes exactly the commands of the table, each with a when clause in the palette', () => {
  const contributed: string[] = manifest.contributes.commands.map((c) => c.command).sort();
  const ids: string[] = Object.values(CommandId).sort();
  assert.deepEqual(contributed, ids);
  const palette = new Map(manifest.contributes.menus.commandPalette!.map((m) => [m.command, m.when]));
  for (const id of Object.values(CommandId)) assert.ok(palette.get(id), `${id} has a when clause`);
  for (const [menu, items] of Object.entries(manifest.contributes.menus)) {
    for (const item of items) assert.ok(contributed.includes(item.command) && item.when, `${menu}: ${item.command}`);
  }
  assert.ok(manifest.contributes.commands.every((c) => c.category === 'SPruFT'));
});

it('declares every setting the config reader and the language server read, and restricts the runner ones when untrusted', () => {
  const properties = manifest.contributes.configuration.properties;
  const declared = Object.keys(properties).sort();
  const checkKeys = Object.keys(CHECK_SETTINGS).map((k) => `${CHECK_SETTINGS_SECTION}.${k}`);
  assert.deepEqual(declared, [...Object.values(SettingKey).map((k) => `${SETTINGS_SECTION}.${k}`), ...checkKeys].sort());
  // The language server's settings: the contract's type, default and description.
  for (const [key, setting] of Object.entries(CHECK_SETTINGS)) {
    const declaredSetting = properties[`${CHECK_SETTINGS_SECTION}.${key}`]!;
    assert.deepEqual([declaredSetting.type, declaredSetting.default, declaredSetting.markdownDescription], [setting.type, setting.default, setting.description], key);
  }
  assert.ok(manifest.contributes.languages.some((l) => l.id === RUN_CONFIG_LANGUAGE_ID), 'the served language is contributed');
  // The backend setting offers exactly the backends a config may name (protocol/config.ts).
  assert.deepEqual((properties[`${SETTINGS_SECTION}.${SettingKey.backend}`] as { enum?: string[] }).enum, [...BACKENDS]);
  const trust = manifest.capabilities.untrustedWorkspaces;
  assert.equal(trust.supported, 'limited');
  assert.deepEqual(trust.restrictedConfigurations.sort(), [`${SETTINGS_SECTION}.${SettingKey.nodeExecutable}`, `${SETTINGS_SECTION}.${SettingKey.runnerArgs}`].sort());
  assert.ok(manifest.activationEvents.includes(`onWebviewPanel:${DASHBOARD_VIEW_TYPE}`));
});

it('gives the Runs view\'s item menus only commands that take a run, and shows the view in its own container', () => {
  const raw = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as {
    contributes: { views: Record<string, Array<{ id: string }>>; viewsContainers: { activitybar: Array<{ id: string }> }; menus: Record<string, Array<{ command: string; when: string }>> };
  };
  assert.deepEqual(raw.contributes.views[raw.contributes.viewsContainers.activitybar[0]!.id]!.map((v) => v.id), [RUNS_VIEW_ID]);
  const itemCommands = new Set(raw.contributes.menus['view/item/context']!.map((m) => m.command));
  assert.deepEqual([...itemCommands].sort(), [CommandId.deleteRun, CommandId.mergeAdapter, CommandId.openDashboard, CommandId.openPlayground, CommandId.rerun, CommandId.resumeRun, CommandId.revealRun].sort());
  // Merge and the playground only where the run holds an adapter; Resume only where it can.
  for (const item of raw.contributes.menus['view/item/context']!) {
    if (item.command === CommandId.mergeAdapter || item.command === CommandId.openPlayground) assert.match(item.when, /:adapter/);
    if (item.command === CommandId.resumeRun) assert.match(item.when, /:resumable/);
  }
});

it('packs the bundles the manifest loads (.vscodeignore allow-list)', () => {
  const allowed = readFileSync(join(root, '.vscodeignore'), 'utf8').split('\n').filter((l) => l.startsWith('!')).map((l) => l.slice(1));
  assert.equal(readFileSync(join(root, '.vscodeignore'), 'utf8').split('\n').find((l) => l && !l.startsWith('#')), '**', 'starts by ignoring everything');
  for (const file of [manifest.main.replace(/^\.\//, ''), 'dist/runner.js', 'dist/languageServer.js', 'dist/webview/dashboard.js', 'dist/webview/dashboard.css', 'media/spruft.svg']) {
    assert.ok(allowed.includes(file), `${file} is packed`);
  }
  assert.ok(allowed.includes('dist/wasm/*.wasm'), 'the wasm binaries are packed');
  // Every file the manifest points at (icon, grammar, language configuration, JSON schema).
  const matches = (file: string) =>
    allowed.some((pattern) => pattern === file || (pattern.endsWith('/**') && file.startsWith(pattern.slice(0, -2))) || new RegExp(`^${pattern.replace(/[.]/g, '\\.').replace(/\*/g, '[^/]*')}$`).test(file));
  const raw = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { icon?: string; contributes: Record<string, Array<Record<string, unknown>>> };
  const referenced = [
    raw.icon,
    ...(raw.contributes.grammars ?? []).map((g) => g.path),
    ...(raw.contributes.languages ?? []).map((l) => l.configuration),
    ...(raw.contributes.jsonValidation ?? []).map((j) => j.url),
    ...(raw.contributes.snippets ?? []).map((j) => j.path),
    ...((raw.contributes.walkthroughs ?? []) as Array<{ steps: Array<{ media: { markdown?: string; image?: string } }> }>).flatMap((w) => w.steps.map((st) => st.media.markdown ?? st.media.image)),
  ].filter((p): p is string => typeof p === 'string' && !/^https?:/.test(p));
  for (const path of referenced) {
    assert.ok(matches(path.replace(/^\.\//, '')), `${path} (referenced by package.json) is packed`);
    assert.ok(existsSync(join(root, path)), `${path} (referenced by package.json) exists`);
  }
  assert.ok(!allowed.some((p) => p.startsWith('dist/test') || p.endsWith('.map')), 'no tests or source maps');
});
