import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { SERVER_SETTING_KEYS, serverSettings } from '../../src/settings';

interface Contribution {
  default: unknown;
}
const manifest = JSON.parse(readFileSync('package.json', 'utf8')) as {
  contributes: { configuration: { properties: Record<string, Contribution> } };
};
const properties = manifest.contributes.configuration.properties;

/** What VS Code's getConfiguration('llmstep') returns: user values over the manifest defaults. */
function reader(user: Record<string, unknown>) {
  return {
    get<T>(key: string): T | undefined {
      return (key in user ? user[key] : properties[`llmstep.${key}`]?.default) as T | undefined;
    },
  };
}

test('every server setting is contributed as llmstep.<key>', () => {
  for (const key of SERVER_SETTING_KEYS) {
    assert.ok(properties[`llmstep.${key}`], `llmstep.${key} missing from package.json`);
  }
});

test('defaults are sent as the server reads them: empty command, root and log file mean "server default"', () => {
  const sent = serverSettings(reader({}));
  assert.deepEqual(Object.keys(sent).sort(), [...SERVER_SETTING_KEYS].sort());
  assert.equal(sent.leanCommand, null);
  assert.equal(sent.projectRoot, null);
  assert.equal(sent.logFile, null);
  assert.equal(sent.preset, 'llmstep');
  assert.equal(sent.model, null); // the preset's model
  assert.equal(sent.numSamples, null); // the preset's sampling
  assert.deepEqual(sent.presets, {});
});

test('user values are sent unchanged, and "" for the model means no model', () => {
  const sent = serverSettings(
    reader({ leanCommand: ['lake', 'serve'], model: '', numSamples: 4, automationTactics: ['simp'] }),
  );
  assert.deepEqual(sent.leanCommand, ['lake', 'serve']);
  assert.equal(sent.model, '');
  assert.equal(sent.numSamples, 4);
  assert.deepEqual(sent.automationTactics, ['simp']);
});

test('client-only settings are never sent to the server (it would warn about unknown keys)', () => {
  const sent = serverSettings(reader({ 'server.pythonPath': '/usr/bin/python3' }));
  assert.ok(!Object.keys(sent).some((key) => key.startsWith('server') || key.startsWith('inline')));
});

test('settings that name programs or paths on the machine running the server are machine-overridable', () => {
  // Edited in the Remote tab on a remote host (the toast's "Open Settings" leads there), in User
  // settings locally, and per workspace; see README "Settings" for each setting's scope.
  const machine = [
    'llmstep.server.pythonPath',
    'llmstep.server.command',
    'llmstep.server.env',
    'llmstep.server.setupPython',
    'llmstep.server.installModel',
    'llmstep.server.torchIndexUrl',
    'llmstep.server.pipArgs',
    'llmstep.leanCommand',
    'llmstep.replCommand',
    'llmstep.llamaServer',
    'llmstep.logFile',
  ];
  const scopes = Object.fromEntries(
    Object.entries(properties).map(([key, value]) => [key, (value as { scope?: string }).scope ?? 'window']),
  );
  for (const key of machine) {
    assert.equal(scopes[key], 'machine-overridable', key);
  }
  for (const [key, scope] of Object.entries(scopes)) {
    if (!machine.includes(key)) {
      assert.equal(scope, 'window', `${key}: every other setting is editable in User, Remote and Workspace`);
    }
  }
});

test('Lean files get the lightbulb on empty lines and ghost text in front of word completion', () => {
  const defaults = (manifest.contributes as unknown as { configurationDefaults: Record<string, Record<string, unknown>> })
    .configurationDefaults['[lean4]'];
  assert.equal(defaults['editor.lightbulb.enabled'], 'on'); // VS Code's default "onCode" skips whitespace
  assert.equal(defaults['editor.inlineSuggest.suppressSuggestions'], true);
});
