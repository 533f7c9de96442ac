// Starts `llmstep-lsp serve` for Lean 4 files, beside (and independent of) the Lean 4 extension.
// The server does all the work; this extension starts it, forwards settings, shows its status and
// offers three commands.

import { createInterface } from 'node:readline';
import * as vscode from 'vscode';
import {
  DidChangeConfigurationNotification,
  LanguageClient,
  type LanguageClientOptions,
  RevealOutputChannelOn,
  type ServerOptions,
  State,
  TransportKind,
} from 'vscode-languageclient/node';
import { BootstrapError, type BootstrapSettings, bundledWheel, ensureEnvironment, readMarker, reusable, sha256Of } from './bootstrap';
import { checkLaunch, type LaunchProblem, serverLaunch } from './launch';
import { LogLineParser } from './logLines';
import { isStatusParams, STATUS_NOTIFICATION } from './protocol';
import { LAUNCH_SETTINGS, SERVER_SETTING_KEYS, serverSettings } from './settings';
import { StatusItem } from './status';
import { stateOf } from './statusModel';

/** Client id = settings prefix, so vscode-languageclient reads `llmstep.trace.server`. */
const CLIENT_ID = 'llmstep';
const SECTION = 'llmstep';

let sidecar: Sidecar | undefined;

export async function activate(context: vscode.ExtensionContext): Promise<void> {
  const output = vscode.window.createOutputChannel('llmstep', { log: true });
  const status = new StatusItem('llmstep.showLog');
  sidecar = new Sidecar(context, output, status);
  output.info(`llmstep ${String(context.extension.packageJSON.version)}; remote: ${vscode.env.remoteName ?? 'none'}`);
  context.subscriptions.push(
    output,
    status,
    vscode.commands.registerCommand('llmstep.showLog', () => output.show(true)),
    vscode.commands.registerCommand('llmstep.restartServer', () => sidecar?.restart()),
    vscode.commands.registerCommand('llmstep.suggestHere', () => sidecar?.suggestHere()),
    vscode.workspace.onDidChangeConfiguration((event) => sidecar?.configurationChanged(event)),
  );
  await sidecar.start();
}

export async function deactivate(): Promise<void> {
  await sidecar?.stop();
  sidecar = undefined;
}

function config(): vscode.WorkspaceConfiguration {
  return vscode.workspace.getConfiguration(SECTION);
}

class Sidecar {
  private client: LanguageClient | undefined;
  /** Serialises start/stop/restart so that two restarts never run two servers. */
  private lifecycle: Promise<void> = Promise.resolve();

  constructor(
    private readonly context: vscode.ExtensionContext,
    private readonly output: vscode.LogOutputChannel,
    private readonly status: StatusItem,
  ) {}

  start(): Promise<void> {
    return this.serially(() => this.doStart());
  }

  stop(): Promise<void> {
    return this.serially(() => this.doStop());
  }

  restart(): Promise<void> {
    return this.serially(async () => {
      await this.doStop();
      await this.doStart();
    });
  }

  async suggestHere(): Promise<void> {
    const editor = vscode.window.activeTextEditor;
    if (editor?.document.languageId !== 'lean4') {
      void vscode.window.showInformationMessage('llmstep: open a Lean 4 file and put the cursor in a proof.');
      return;
    }
    if (this.status.state === 'installing') {
      void vscode.window.showInformationMessage(
        'llmstep is setting up its server (first start, a few minutes); suggestions come once it is done.',
      );
      return;
    }
    if (this.client?.state === State.Starting) {
      void vscode.window.showInformationMessage('llmstep: the server is still starting; try again in a moment.');
      return;
    }
    if (this.client?.state !== State.Running) {
      void this.showProblem('llmstep: the server is not running.');
      return;
    }
    // Ghost text first: the quick-fix request is the same suggestion, answered from the server's cache.
    await vscode.commands.executeCommand('editor.action.inlineSuggest.trigger');
    await vscode.commands.executeCommand('editor.action.quickFix');
  }

  configurationChanged(event: vscode.ConfigurationChangeEvent): void {
    if (LAUNCH_SETTINGS.some((key) => event.affectsConfiguration(`${SECTION}.${key}`))) {
      this.output.info('server launch settings changed: restarting the server');
      void this.restart();
    } else if (SERVER_SETTING_KEYS.some((key) => event.affectsConfiguration(`${SECTION}.${key}`))) {
      const client = this.client;
      if (client?.state === State.Running) {
        void client.sendNotification(DidChangeConfigurationNotification.type, {
          settings: { [SECTION]: serverSettings(config()) },
        });
      }
    }
  }

  private serially(step: () => Promise<void>): Promise<void> {
    this.lifecycle = this.lifecycle.then(step, step);
    return this.lifecycle;
  }

  private async doStart(): Promise<void> {
    const settings = config();
    const env = settings.get<Record<string, string>>('server.env', {});
    let pythonPath = settings.get<string>('server.pythonPath', '');
    const command = settings.get<string[]>('server.command', []);
    const wheel = bundledWheel(this.context.extensionPath);
    if (!pythonPath.trim() && command.length === 0 && wheel !== undefined) {
      // Nothing configured: the extension's own environment with the sidecar it carries.
      try {
        pythonPath = await this.ownEnvironment(wheel, { ...process.env, ...env });
      } catch (error) {
        const problem =
          error instanceof BootstrapError
            ? { message: error.message, detail: error.detail }
            : { message: `llmstep could not set up its server: ${String(error)}`, detail: String(error) };
        this.failed(problem);
        return;
      }
    }
    const launch = serverLaunch(
      { pythonPath, command, env },
      process.env,
      vscode.workspace.workspaceFolders?.[0]?.uri.fsPath,
    );
    this.status.show('starting', '');
    this.output.info(`starting: ${[launch.command, ...launch.args].join(' ')}`);
    const problem = await checkLaunch(launch);
    if (problem !== undefined) {
      this.failed(problem);
      return;
    }
    const serverOptions: ServerOptions = {
      command: launch.command,
      args: launch.args,
      transport: TransportKind.stdio, // appends --stdio, which `serve` accepts
      options: { env: launch.env, ...(launch.cwd === undefined ? {} : { cwd: launch.cwd }) },
    };
    const clientOptions: LanguageClientOptions = {
      documentSelector: [{ scheme: 'file', language: 'lean4' }],
      outputChannel: this.output,
      stdioOptions: {
        // Used only where stdout is not the LSP pipe (not with stdio, which this extension uses).
        stdout: (input, channel) => {
          createInterface({ input, crlfDelay: Infinity, terminal: false }).on('line', (line) => channel.info(line));
        },
        // Each server log line at its own level (not every stderr line as an error).
        stderr: (input, channel) => {
          const parser = new LogLineParser();
          createInterface({ input, crlfDelay: Infinity, terminal: false }).on('line', (line) => {
            const { level, text } = parser.parse(line);
            channel[level](text);
          });
        },
      },
      revealOutputChannelOn: RevealOutputChannelOn.Never, // the server shows its problems itself
      initializationOptions: serverSettings(settings),
      middleware: {
        provideInlineCompletionItems: (document, position, context, token, next) => {
          const automatic = config().get<boolean>('inlineSuggestions.automatic', true);
          if (context.triggerKind === vscode.InlineCompletionTriggerKind.Automatic && !automatic) {
            return null;
          }
          return next(document, position, context, token);
        },
      },
    };
    const client = new LanguageClient(CLIENT_ID, 'llmstep', serverOptions, clientOptions);
    // The server announces its first state right after `initialized` (loading the model, or ready).
    client.onNotification(STATUS_NOTIFICATION, (params: unknown) => {
      if (isStatusParams(params)) {
        const line = `status: ${params.state}${params.message ? ` (${params.message})` : ''}`;
        if (params.state === 'working') {
          this.output.debug(line);
        } else {
          this.output.info(line);
        }
        this.status.show(stateOf(params), params.message);
      }
    });
    client.onDidChangeState((event) => {
      if (event.newState === State.Stopped && this.client === client && this.status.state !== 'error') {
        this.status.show('stopped', 'run "llmstep: Restart Server"');
      }
    });
    this.client = client;
    try {
      await client.start();
    } catch (error) {
      this.client = undefined;
      const message = error instanceof Error ? error.message : String(error);
      this.failed({
        message: `llmstep-lsp failed to start (${launch.command}): ${message}. See the log for details.`,
        detail: message,
      });
      return;
    }
    const provider = client.initializeResult?.capabilities.inlineCompletionProvider;
    this.output.info(`server started; inline completion ${provider ? 'advertised' : 'NOT advertised'}`);
  }

  private async doStop(): Promise<void> {
    const client = this.client;
    this.client = undefined;
    if (client !== undefined) {
      try {
        await client.stop();
      } catch (error) {
        this.output.warn(`stopping the server: ${String(error)}`);
      }
    }
    this.status.show('stopped', '');
  }

  private failed(problem: LaunchProblem): void {
    this.output.error(problem.detail);
    this.status.show('error', problem.message);
    void this.showProblem(problem.message);
  }

  /** The interpreter of the extension's own environment, set up now (with a progress notification)
   * unless the one made before holds this wheel. */
  private async ownEnvironment(wheel: string, env: NodeJS.ProcessEnv): Promise<string> {
    const settings = config();
    const bootstrap: BootstrapSettings = {
      setupPython: settings.get<string>('server.setupPython', ''),
      installModel: settings.get<boolean>('server.installModel', true),
      torchIndexUrl: settings.get<string>('server.torchIndexUrl', 'auto'),
      pipArgs: settings.get<string[]>('server.pipArgs', []),
    };
    const storage = this.context.globalStorageUri.fsPath;
    const marker = readMarker(storage);
    if (marker !== undefined && reusable(marker, wheel, sha256Of(wheel), bootstrap.installModel)) {
      this.output.info(`using the extension's environment: ${marker.python}`);
      return marker.python;
    }
    this.status.show('installing', '');
    this.output.info(`setting up the extension's environment in ${storage} for ${wheel}`);
    return vscode.window.withProgress(
      { location: vscode.ProgressLocation.Notification, title: 'llmstep: setting up the server (first start)' },
      async (progress) => {
        let title = '';
        const python = await ensureEnvironment(storage, wheel, bootstrap, env, {
          step: (step) => {
            title = step;
            this.output.info(`setup: ${step}`);
            progress.report({ message: `${step}…` });
          },
          line: (line) => {
            this.output.info(`pip: ${line}`);
            if (/^(Collecting|Downloading|Installing|Successfully)/.test(line.trim())) {
              progress.report({ message: `${title}: ${line.trim().slice(0, 80)}` });
            }
          },
        });
        this.output.info(`the extension's environment is ready: ${python}`);
        return python;
      },
    );
  }

  private async showProblem(message: string): Promise<void> {
    const choice = await vscode.window.showErrorMessage(message, 'Open Settings', 'Show Log', 'Restart Server');
    if (choice === 'Open Settings') {
      await openSettings('llmstep.server');
    } else if (choice === 'Show Log') {
      this.output.show(true);
    } else if (choice === 'Restart Server') {
      await this.restart();
    }
  }
}

/**
 * The Settings editor where `llmstep.server.*` can be edited: on a remote host (code-server,
 * Remote-SSH, WSL, containers) the Remote tab, because `machine-overridable` settings are not
 * offered (and not read) in the User tab there; locally the User tab.
 */
export async function openSettings(query: string): Promise<void> {
  if (vscode.env.remoteName !== undefined) {
    await vscode.commands.executeCommand('workbench.action.openRemoteSettings', { query });
  } else {
    await vscode.commands.executeCommand('workbench.action.openSettings', query);
  }
}
