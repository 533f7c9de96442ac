// Builds the sidecar's wheel (the Python package at the repository root) into sidecar/, which the
// .vsix carries: on first start the extension installs it into its own environment (src/bootstrap.ts).
// Python: $PYTHON, else python3. Without build isolation when that Python has setuptools (offline).
import { execFileSync } from 'node:child_process';
import { mkdirSync, readdirSync, rmSync } from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const extension = path.resolve(here, '..');
const repo = path.resolve(extension, '..');
const out = path.join(extension, 'sidecar');
const python = process.env.PYTHON || 'python3';

rmSync(out, { recursive: true, force: true });
mkdirSync(out);
let isolation = [];
try {
  execFileSync(python, ['-c', 'import setuptools, wheel'], { stdio: 'ignore' });
  isolation = ['--no-build-isolation'];
} catch {
  // pip fetches the build backend (setuptools) itself
}
execFileSync(python, ['-m', 'pip', 'wheel', '--quiet', '--no-deps', ...isolation, '--wheel-dir', out, repo], {
  stdio: 'inherit',
});
const wheels = readdirSync(out).filter((name) => name.endsWith('.whl'));
if (wheels.length !== 1 || !wheels[0].startsWith('llmstep_lsp-')) {
  throw new Error(`expected one llmstep_lsp wheel in ${out}, found ${wheels.join(', ') || 'none'}`);
}
console.log(`sidecar/${wheels[0]}`);
