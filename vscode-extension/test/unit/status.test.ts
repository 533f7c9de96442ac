import assert from 'node:assert/strict';
import { test } from 'node:test';
import { LogLineParser } from '../../src/logLines';
import { plainMessage, stateOf, tooltipOf } from '../../src/statusModel';

test('one state per sidecar from the server status', () => {
  assert.equal(stateOf({ state: 'loading', message: 'loading m' }), 'loading');
  assert.equal(stateOf({ state: 'ready', message: '', model: true }), 'ready');
  assert.equal(stateOf({ state: 'ready', message: '', model: false }), 'readyWithoutModel');
  assert.equal(stateOf({ state: 'ready', message: '' }), 'ready'); // an older server
  assert.equal(stateOf({ state: 'working', message: 'line 3' }), 'working');
  assert.equal(stateOf({ state: 'error', message: 'x', problem: 'lean' }), 'leanError');
  assert.equal(stateOf({ state: 'error', message: 'x', problem: 'model' }), 'modelError');
  assert.equal(stateOf({ state: 'error', message: 'x', problem: 'verifier' }), 'error');
  assert.equal(stateOf({ state: 'error', message: 'x' }), 'error');
});

test('messages are plain text: no doubled prefixes, no markdown escapes, no ".."', () => {
  assert.equal(
    plainMessage('llmstep: error: llmstep: could not load the model \\(or run \\`hf download m\\`\\) files.. Fix: connect'),
    'could not load the model (or run `hf download m`) files. Fix: connect',
  );
  assert.equal(plainMessage('wait...'), 'wait...');
  assert.equal(tooltipOf('ready', ''), 'llmstep: ready\n\nClick to show the log.');
  assert.equal(
    tooltipOf('leanError', 'llmstep: lake was not found. Fix: install elan'),
    'llmstep: Lean error\nlake was not found. Fix: install elan\n\nClick to show the log.',
  );
});

test('server log lines keep their level; continuation lines take the level of their record', () => {
  const parser = new LogLineParser();
  assert.deepEqual(parser.parse('2026-11-29 23:55:01,123 INFO llmstep_lsp.pipeline.engine: suggest ok'), {
    level: 'info',
    text: 'llmstep_lsp.pipeline.engine: suggest ok',
  });
  assert.deepEqual(parser.parse('2026-11-29 23:55:01,124 DEBUG llmstep_lsp.lean: sent'), { level: 'debug', text: 'llmstep_lsp.lean: sent' });
  assert.equal(parser.parse('2026-11-29 23:55:02,000 WARNING x: y').level, 'warn');
  assert.equal(parser.parse('2026-11-29 23:55:02,001 ERROR x: failed').level, 'error');
  assert.deepEqual(parser.parse('Traceback (most recent call last):'), { level: 'error', text: 'Traceback (most recent call last):' });
  assert.equal(parser.parse('2026-11-29 23:55:03,000 CRITICAL x: y').level, 'error');
  assert.equal(new LogLineParser().parse('some library print').level, 'info');
});
