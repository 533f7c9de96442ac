// How the server process is started, and a check before starting it that turns the usual setup
// problems (no Python, package not installed) into a message that says how to fix them.
// No `vscode` import here, so it can be unit-tested in plain Node.

import { execFile } from 'node:child_process';
import { accessSync, constants, statSync } from 'node:fs';
import * as path from 'node:path';

export interface LaunchSettings {
  /** `llmstep.server.pythonPath`; empty: python3 (python on Windows). */
  pythonPath: string;
  /** `llmstep.server.command`; empty: `<python> -m llmstep_lsp serve`. */
  command: string[];
  /** `llmstep.server.env`: added to the extension host's environment. */
  env: Record<string, string>;
}

export interface ServerLaunch {
  command: string;
  args: string[];
  env: NodeJS.ProcessEnv;
  /** Where the server runs (the first workspace folder); `python -m` also imports from here. */
  cwd?: string;
  /** The interpreter, when the server is started as `<python> -m llmstep_lsp`. */
  python?: string;
}

export function defaultPython(platform: NodeJS.Platform = process.platform): string {
  return platform === 'win32' ? 'python' : 'python3';
}

export function serverLaunch(
  settings: LaunchSettings,
  baseEnv: NodeJS.ProcessEnv = process.env,
  cwd?: string,
): ServerLaunch {
  const env = { ...baseEnv, ...settings.env };
  const where = cwd === undefined ? {} : { cwd };
  if (settings.command.length > 0) {
    const [command, ...args] = settings.command;
    return { command, args, env, ...where };
  }
  const python = settings.pythonPath.trim() || defaultPython();
  return { command: python, args: ['-m', 'llmstep_lsp', 'serve'], env, python, ...where };
}

/** A setup problem found before starting the server: what is wrong and how to fix it. */
export interface LaunchProblem {
  message: string;
  /** What the check printed (for the log). */
  detail: string;
}

const IMPORT_CHECK = 'import sys, llmstep_lsp, llmstep_lsp.lsp.server; print(llmstep_lsp.__version__, sys.version.split()[0])';

/** Whether `command` names an executable file, as a path or found on the PATH of `env`. */
export function isExecutable(command: string, env: NodeJS.ProcessEnv, platform = process.platform): boolean {
  if (platform === 'win32') {
    return true; // PATHEXT lookup is the OS's job; a start error is still reported
  }
  const candidates = command.includes('/')
    ? [command]
    : (env.PATH ?? '').split(path.delimiter).filter(Boolean).map((dir) => path.join(dir, command));
  return candidates.some((candidate) => {
    try {
      accessSync(candidate, constants.X_OK);
      return statSync(candidate).isFile();
    } catch {
      return false;
    }
  });
}

/**
 * Checks that the server can start: a command from `llmstep.server.command` must exist; with the
 * default `<python> -m llmstep_lsp serve`, the interpreter must run and import the package.
 */
export async function checkLaunch(launch: ServerLaunch, timeoutMs = 60_000): Promise<LaunchProblem | undefined> {
  const python = launch.python;
  if (python === undefined) {
    if (isExecutable(launch.command, launch.env)) {
      return undefined;
    }
    return {
      message:
        `llmstep: the server command '${launch.command}' was not found. Install llmstep-lsp ` +
        `(\`python3 -m pip install llmstep-lsp\`) or fix "llmstep.server.command".`,
      detail: `not an executable file, nor on PATH=${launch.env.PATH ?? ''}: ${launch.command}`,
    };
  }
  return new Promise((resolve) => {
    execFile(python, ['-c', IMPORT_CHECK], { env: launch.env, cwd: launch.cwd, timeout: timeoutMs }, (error, stdout, stderr) => {
      if (!error) {
        resolve(undefined);
        return;
      }
      const detail = `${python} -c "${IMPORT_CHECK}"\n${stdout}${stderr}${error.message}`.trim();
      const code = (error as NodeJS.ErrnoException).code;
      if (code === 'ENOENT' || code === 'EACCES') {
        resolve({
          message:
            `llmstep: Python was not found at '${python}'. Set "llmstep.server.pythonPath" to a Python ≥ 3.11 ` +
            `that has llmstep-lsp installed (\`${python} -m pip install llmstep-lsp\`).`,
          detail,
        });
      } else if (/No module named '?llmstep_lsp'?/.test(stderr)) {
        resolve({
          message:
            `llmstep-lsp is not installed for ${python}: run \`${python} -m pip install llmstep-lsp\` ` +
            `(or set "llmstep.server.pythonPath" to the Python that has it), then restart the server.`,
          detail,
        });
      } else if (error.killed) {
        resolve({
          message: `llmstep: '${python}' did not import llmstep_lsp within ${timeoutMs / 1000} s; see the log.`,
          detail,
        });
      } else {
        const last = stderr.trim().split('\n').pop() ?? error.message;
        resolve({
          message: `llmstep-lsp cannot be imported by ${python}: ${last}. See the log for the full error.`,
          detail,
        });
      }
    });
  });
}
