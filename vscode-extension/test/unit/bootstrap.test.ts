import assert from 'node:assert/strict';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { test } from 'node:test';
import {
  BootstrapError,
  type BootstrapSettings,
  bundledWheel,
  ensureEnvironment,
  findPython,
  installSteps,
  pythonVersionOk,
  readMarker,
  TORCH_CPU_INDEX,
  torchIndex,
} from '../../src/bootstrap';

const SETTINGS: BootstrapSettings = { setupPython: '', installModel: true, torchIndexUrl: 'auto', pipArgs: [] };
const quiet = { step: () => {}, line: () => {} };

/** A stand-in for `python3`: reports $FAKE_VERSION, makes a venv whose python is itself, and logs
 * each pip install's arguments to $FAKE_PIP_LOG (failing with pip-like lines when $FAKE_PIP_FAIL). */
function fakePython(dir: string): string {
  const file = path.join(dir, 'python3');
  writeFileSync(
    file,
    `#!/bin/sh
if [ "$1" = "-c" ]; then echo "\${FAKE_VERSION:-3.11.2}"; exit 0; fi
if [ "$1 $2" = "-m venv" ]; then mkdir -p "$3/bin" && cp "$0" "$3/bin/python"; exit 0; fi
if [ "$1 $2 $3" = "-m pip install" ]; then
  shift 3; echo "$*" >> "$FAKE_PIP_LOG"
  if [ -n "$FAKE_PIP_FAIL" ]; then echo "Collecting torch"; echo "ERROR: No matching distribution found for torch" >&2; exit 1; fi
  echo "Successfully installed llmstep-lsp-0.1.0"; exit 0
fi
exit 2
`,
  );
  chmodSync(file, 0o755);
  return file;
}

function scratch(): { dir: string; wheel: string; storage: string; log: string; env: NodeJS.ProcessEnv } {
  const dir = mkdtempSync(path.join(tmpdir(), 'llmstep-bootstrap-'));
  mkdirSync(path.join(dir, 'ext', 'sidecar'), { recursive: true });
  const wheel = path.join(dir, 'ext', 'sidecar', 'llmstep_lsp-0.1.0-py3-none-any.whl');
  writeFileSync(wheel, 'wheel v1');
  mkdirSync(path.join(dir, 'bin'));
  fakePython(path.join(dir, 'bin'));
  const log = path.join(dir, 'pip.log');
  return { dir, wheel, storage: path.join(dir, 'storage'), log, env: { PATH: `${path.join(dir, 'bin')}:/usr/bin:/bin`, FAKE_PIP_LOG: log } };
}

function pipRuns(log: string): string[] {
  return existsSync(log) ? readFileSync(log, 'utf8').trim().split('\n') : [];
}

test('torch comes from the CPU index on Linux without an NVIDIA GPU, from PyPI elsewhere', () => {
  assert.equal(torchIndex('auto', 'linux', false), TORCH_CPU_INDEX);
  assert.equal(torchIndex('auto', 'linux', true), undefined);
  assert.equal(torchIndex('auto', 'darwin', false), undefined);
  assert.equal(torchIndex('auto', 'win32', false), undefined);
  assert.equal(torchIndex('', 'linux', false), undefined);
  assert.equal(torchIndex('https://download.pytorch.org/whl/cu126', 'linux', false), 'https://download.pytorch.org/whl/cu126');
});

test('install steps: torch from its index first, then the wheel with the model extra; pipArgs on each', () => {
  const steps = installSteps('/x/llmstep.whl', { ...SETTINGS, pipArgs: ['--no-index'] }, TORCH_CPU_INDEX);
  assert.deepEqual(
    steps.map((s) => s.args.slice(5)),
    [
      ['torch', '--index-url', TORCH_CPU_INDEX, '--no-index'],
      ['/x/llmstep.whl[model]', '--no-index'],
    ],
  );
  const base = installSteps('/x/llmstep.whl', { ...SETTINGS, installModel: false }, TORCH_CPU_INDEX);
  assert.deepEqual(base.map((s) => s.args.slice(5)), [['/x/llmstep.whl']]);
});

test('Python versions: 3.11 and later are enough', () => {
  assert.ok(pythonVersionOk('3.11.2'));
  assert.ok(pythonVersionOk('3.13.0'));
  assert.ok(pythonVersionOk('4.0.0'));
  assert.ok(!pythonVersionOk('3.10.12'));
  assert.ok(!pythonVersionOk('2.7.18'));
});

test('a Python too old: the message names what was found and the settings that fix it', async () => {
  const { env } = scratch();
  await assert.rejects(findPython(['python3', 'python3.12'], { ...env, FAKE_VERSION: '3.9.2' }), (error: unknown) => {
    assert.ok(error instanceof BootstrapError);
    assert.match(error.message, /needs Python ≥ 3\.11.*found only: python3 is Python 3\.9\.2/);
    assert.match(error.message, /llmstep\.server\.setupPython/);
    return true;
  });
});

test('first start installs into a new environment; later starts reuse it; a new wheel reinstalls', async () => {
  const { wheel, storage, log, env, dir } = scratch();
  assert.equal(bundledWheel(path.join(dir, 'ext')), wheel);
  const settings = { ...SETTINGS, torchIndexUrl: '' };
  const python = await ensureEnvironment(storage, wheel, settings, env, quiet, 'linux');
  assert.ok(existsSync(python));
  assert.deepEqual(pipRuns(log).map((run) => run.split(' ').slice(2).join(' ')), [`${wheel}[model]`]);
  assert.equal(readMarker(storage)?.python, python);

  assert.equal(await ensureEnvironment(storage, wheel, settings, env, quiet, 'linux'), python);
  assert.equal(pipRuns(log).length, 1, 'reused: pip did not run again');

  writeFileSync(wheel, 'wheel v2'); // a new .vsix with a rebuilt sidecar
  const again = await ensureEnvironment(storage, wheel, settings, env, quiet, 'linux');
  assert.notEqual(again, python);
  assert.equal(pipRuns(log).length, 2);
  assert.deepEqual(readdirSync(storage).filter((n) => n.startsWith('env-')), [path.basename(path.dirname(path.dirname(again)))]);
});

test('a failed pip install says which step failed with pip\'s last lines, and is redone next start', async () => {
  const { wheel, storage, log, env } = scratch();
  const failing = { ...env, FAKE_PIP_FAIL: '1' };
  await assert.rejects(ensureEnvironment(storage, wheel, SETTINGS, failing, quiet, 'linux'), (error: unknown) => {
    assert.ok(error instanceof BootstrapError);
    assert.match(error.message, /installing torch from https:\/\/download\.pytorch\.org\/whl\/cpu.*failed \(exit 1\)/s);
    assert.match(error.message, /No matching distribution found for torch/);
    return true;
  });
  assert.equal(readMarker(storage), undefined);
  await ensureEnvironment(storage, wheel, SETTINGS, env, quiet, 'linux');
  assert.equal(pipRuns(log).length, 3, 'the failed torch step, then torch and the wheel');
});
