// The status-bar item: model loading / ready / working / error, from `llmstep/status` and from the
// client's own lifecycle (starting, stopped). Clicking it shows the log.

import * as vscode from 'vscode';
import type { ServerState } from './protocol';

export type ItemState = ServerState | 'starting' | 'stopped';

const LOOK: Record<ItemState, { icon: string; label: string; tooltip: string }> = {
  starting: { icon: '$(loading~spin)', label: 'llmstep', tooltip: 'llmstep: starting the server' },
  loading: { icon: '$(loading~spin)', label: 'llmstep: loading model', tooltip: 'llmstep: loading the model' },
  ready: { icon: '$(check)', label: 'llmstep', tooltip: 'llmstep: ready' },
  working: { icon: '$(sync~spin)', label: 'llmstep', tooltip: 'llmstep: looking for verified tactics' },
  error: { icon: '$(error)', label: 'llmstep', tooltip: 'llmstep: error' },
  stopped: { icon: '$(circle-slash)', label: 'llmstep', tooltip: 'llmstep: the server is not running' },
};

export class StatusItem implements vscode.Disposable {
  private readonly item: vscode.StatusBarItem;
  private current: ItemState = 'starting';

  constructor(showLogCommand: string) {
    this.item = vscode.window.createStatusBarItem('llmstep.status', vscode.StatusBarAlignment.Right, 100);
    this.item.name = 'llmstep';
    this.item.command = showLogCommand;
    this.show('starting', '');
    this.item.show();
  }

  get state(): ItemState {
    return this.current;
  }

  show(state: ItemState, message: string): void {
    const look = LOOK[state];
    this.current = state;
    this.item.text = `${look.icon} ${look.label}`;
    const tooltip = new vscode.MarkdownString();
    tooltip.appendText(message ? `${look.tooltip}: ${message}` : look.tooltip);
    tooltip.appendMarkdown('\n\n*Click to show the log.*');
    this.item.tooltip = tooltip;
    this.item.accessibilityInformation = { label: message ? `${look.tooltip}: ${message}` : look.tooltip };
    this.item.backgroundColor =
      state === 'error' ? new vscode.ThemeColor('statusBarItem.errorBackground') : undefined;
  }

  dispose(): void {
    this.item.dispose();
  }
}
