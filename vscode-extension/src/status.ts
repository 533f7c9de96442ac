// The status-bar item: one state per sidecar (statusModel.ts), from `llmstep/status` and from the
// extension's own lifecycle (setting up, starting, stopped). Clicking it shows the log.

import * as vscode from 'vscode';
import { type ItemState, LOOKS, plainMessage, tooltipOf } from './statusModel';

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
    const look = LOOKS[state];
    this.current = state;
    this.item.text = `${look.icon} ${look.label}`;
    // Plain text, not markdown: a message is shown as the server wrote it, never with escapes.
    this.item.tooltip = tooltipOf(state, message);
    const plain = plainMessage(message);
    this.item.accessibilityInformation = { label: plain ? `${look.title}: ${plain}` : look.title };
    this.item.backgroundColor =
      look.alarm === undefined ? undefined : new vscode.ThemeColor(`statusBarItem.${look.alarm}Background`);
  }

  dispose(): void {
    this.item.dispose();
  }
}
