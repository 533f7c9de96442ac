// Bundles the extension (and, with --tests, the unit tests) with esbuild: one file, no node_modules
// in the .vsix. `--production` minifies and drops source maps.
import { build } from 'esbuild';
import { readdirSync } from 'node:fs';

const production = process.argv.includes('--production');
const tests = process.argv.includes('--tests');

const common = {
  bundle: true,
  platform: 'node',
  target: 'node20',
  format: 'cjs',
  external: ['vscode'],
  logLevel: 'warning',
};

if (tests) {
  const entryPoints = readdirSync('test/unit')
    .filter((name) => name.endsWith('.test.ts'))
    .map((name) => `test/unit/${name}`);
  await build({ ...common, entryPoints, outdir: 'dist/test', sourcemap: 'inline' });
} else {
  await build({
    ...common,
    entryPoints: ['src/extension.ts'],
    outfile: 'dist/extension.js',
    minify: production,
    sourcemap: !production,
  });
}
