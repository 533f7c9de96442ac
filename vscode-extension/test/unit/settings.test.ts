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
