import assert from 'node:assert/strict';
import { chmodSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { test } from 'node:test';
import { checkLaunch, serverLaunch } from '../../src/launch';

function fakePython(stderr: string, code: number): string {
  const dir = mkdtempSync(path.join(tmpdir(), 'llmstep-fake-python-'));
  const file = path.join(dir, 'python3');
  writeFileSync(file, `#!/bin/sh\necho "${stderr}" >&2\nexit ${code}\n`);
  chmodSync(file, 0o755);
  return file;
}

test('default launch is <python> -m llmstep_lsp serve with the extra environment', () => {
  const launch = serverLaunch({ pythonPath: '/venv/bin/python', command: [], env: { HF_HUB_OFFLINE: '1' } }, {
    PATH: '/usr/bin',
  });
  assert.equal(launch.command, '/venv/bin/python');
  assert.deepEqual(launch.args, ['-m', 'llmstep_lsp', 'serve']);
  assert.deepEqual(launch.env, { PATH: '/usr/bin', HF_HUB_OFFLINE: '1' });
  assert.equal(launch.python, '/venv/bin/python');
});

test('a server command replaces the Python launch', () => {
  const launch = serverLaunch({ pythonPath: '/venv/bin/python', command: ['llmstep-lsp', 'serve'], env: {} });
  assert.equal(launch.command, 'llmstep-lsp');
  assert.deepEqual(launch.args, ['serve']);
  assert.equal(launch.python, undefined);
});

test('missing package: the message names the interpreter and the pip command', async () => {
  const python = fakePython("ModuleNotFoundError: No module named 'llmstep_lsp'", 1);
  const problem = await checkLaunch(serverLaunch({ pythonPath: python, command: [], env: {} }));
  assert.ok(problem);
  assert.equal(
    problem.message,
    `llmstep-lsp is not installed for ${python}: run \`${python} -m pip install llmstep-lsp\` ` +
      '(or set "llmstep.server.pythonPath" to the Python that has it), then restart the server.',
  );
});

test('a broken dependency is reported with its error line', async () => {
  const python = fakePython("ModuleNotFoundError: No module named 'pygls'", 1);
  const problem = await checkLaunch(serverLaunch({ pythonPath: python, command: [], env: {} }));
  assert.match(problem?.message ?? '', /cannot be imported by .*No module named 'pygls'/);
});

test('no such Python: the message says to set llmstep.server.pythonPath', async () => {
  const problem = await checkLaunch(serverLaunch({ pythonPath: '/nonexistent/python3', command: [], env: {} }));
  assert.match(problem?.message ?? '', /Python was not found at '\/nonexistent\/python3'.*llmstep\.server\.pythonPath/);
});

test('a working interpreter passes', async () => {
  const python = fakePython('', 0);
  assert.equal(await checkLaunch(serverLaunch({ pythonPath: python, command: [], env: {} })), undefined);
});

test('a server command that is not on PATH is reported before starting', async () => {
  const launch = serverLaunch({ pythonPath: '', command: ['llmstep-lsp-nope', 'serve'], env: {} }, { PATH: '/usr/bin' });
  assert.match((await checkLaunch(launch))?.message ?? '', /server command 'llmstep-lsp-nope' was not found/);
  const sh = serverLaunch({ pythonPath: '', command: ['sh'], env: {} }, { PATH: '/usr/bin:/bin' });
  assert.equal(await checkLaunch(sh), undefined);
});

test('the check runs where the server will run (python -m imports from the working directory)', async () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'llmstep-fake-python-'));
  const python = path.join(dir, 'python3');
  writeFileSync(python, `#!/bin/sh\n[ -f here ] && exit 0\necho "No module named 'llmstep_lsp'" >&2\nexit 1\n`);
  chmodSync(python, 0o755);
  const workspace = mkdtempSync(path.join(tmpdir(), 'llmstep-workspace-'));
  writeFileSync(path.join(workspace, 'here'), '');
  const launch = serverLaunch({ pythonPath: python, command: [], env: {} }, {}, workspace);
  assert.equal(launch.cwd, workspace);
  assert.equal(await checkLaunch(launch), undefined);
  assert.ok(await checkLaunch(serverLaunch({ pythonPath: python, command: [], env: {} }, {}, dir)));
});
