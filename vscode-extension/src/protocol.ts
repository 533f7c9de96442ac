// Names of llmstep-lsp's own LSP extensions; mirrors llmstep_lsp/lsp/methods.py.

/** Server → client notification that drives the status-bar item. */
export const STATUS_NOTIFICATION = 'llmstep/status';

export type ServerState = 'loading' | 'ready' | 'working' | 'error';

export interface StatusParams {
  state: ServerState;
  /** Why (for `error`, also how to fix it); may be empty. */
  message: string;
  /** What an `error` is about: 'lean', 'model' or 'verifier' (older servers: absent). */
  problem?: string | null;
  /** Whether a model is configured (older servers: absent). */
  model?: boolean;
}

export function isStatusParams(value: unknown): value is StatusParams {
  if (typeof value !== 'object' || value === null) {
    return false;
  }
  const { state, message } = value as Record<string, unknown>;
  return ['loading', 'ready', 'working', 'error'].includes(state as string) && typeof message === 'string';
}
