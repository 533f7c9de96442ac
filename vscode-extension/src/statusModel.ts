// What the status-bar item shows: one state per sidecar, from the extension's own lifecycle
// (setting up the environment, starting, stopped, a launch failure) and the server's `llmstep/status`,
// with the last failure's message as plain text. No `vscode` import: unit-tested in plain Node.

import type { StatusParams } from './protocol';

export type ItemState =
  | 'installing' // setting up the extension's own environment (first start)
  | 'starting'
  | 'loading' // loading the model
  | 'ready'
  | 'readyWithoutModel' // no model configured: the model-free tactics only
  | 'working'
  | 'leanError'
  | 'modelError' // the model is unavailable; model-free suggestions go on
  | 'error' // the server cannot start, or its verifier (REPL) fails
  | 'stopped';

export interface Look {
  icon: string;
  label: string;
  /** First line of the tooltip and the accessible label (the message follows it). */
  title: string;
  /** Background: an error (red), a warning (yellow) or none. */
  alarm?: 'error' | 'warning';
}

export const LOOKS: Record<ItemState, Look> = {
  installing: { icon: '$(loading~spin)', label: 'llmstep: setting up', title: 'llmstep: setting up its server (first start)' },
  starting: { icon: '$(loading~spin)', label: 'llmstep', title: 'llmstep: starting the server' },
  loading: { icon: '$(loading~spin)', label: 'llmstep: loading model', title: 'llmstep: loading the model' },
  ready: { icon: '$(check)', label: 'llmstep', title: 'llmstep: ready' },
  readyWithoutModel: { icon: '$(check)', label: 'llmstep: no model', title: 'llmstep: ready without a model (model-free tactics only)' },
  working: { icon: '$(sync~spin)', label: 'llmstep', title: 'llmstep: looking for verified tactics' },
  leanError: { icon: '$(error)', label: 'llmstep: Lean', title: 'llmstep: Lean error', alarm: 'error' },
  modelError: { icon: '$(warning)', label: 'llmstep: no model', title: 'llmstep: model error (model-free tactics only)', alarm: 'warning' },
  error: { icon: '$(error)', label: 'llmstep', title: 'llmstep: error', alarm: 'error' },
  stopped: { icon: '$(circle-slash)', label: 'llmstep', title: 'llmstep: the server is not running' },
};

/** The item's state for a server status. `model` false means no model is configured. */
export function stateOf(params: StatusParams): ItemState {
  switch (params.state) {
    case 'loading':
      return 'loading';
    case 'working':
      return 'working';
    case 'ready':
      return params.model === false ? 'readyWithoutModel' : 'ready';
    case 'error':
      return params.problem === 'lean' ? 'leanError' : params.problem === 'model' ? 'modelError' : 'error';
  }
}

/**
 * A message as plain text for a tooltip: without our own `llmstep:`/`error:` prefixes (the title says
 * that already), without markdown backslash escapes, `..` where two sentences met made one `.`.
 */
export function plainMessage(message: string): string {
  let text = message.trim();
  let before: string;
  do {
    before = text;
    text = text.replace(/^(llmstep(-lsp)?|error|warning):\s*/i, '');
  } while (text !== before);
  text = text.replace(/\\([\\`*_{}[\]()#+\-.!|<>~])/g, '$1');
  text = text.replace(/([^.])\.\.(\s|$)/g, '$1.$2');
  return text;
}

/** Tooltip text: the state's title, then the message (plain text), then what clicking does. */
export function tooltipOf(state: ItemState, message: string): string {
  const plain = plainMessage(message);
  return `${LOOKS[state].title}${plain ? `\n${plain}` : ''}\n\nClick to show the log.`;
}
