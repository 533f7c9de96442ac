// The server's settings, read from `llmstep.*` and sent as initializationOptions and in
// workspace/didChangeConfiguration. Only the keys the server knows are sent (it warns about any other).
// No `vscode` import here, so the mapping can be unit-tested in plain Node.

/** Server setting keys (README "Configuration", llmstep_lsp/config/settings.py), as `llmstep.<key>`. */
export const SERVER_SETTING_KEYS = [
  'leanCommand',
  'projectRoot',
  'leanStartTimeoutS',
  'goalTimeoutS',
  'verifyTimeoutS',
  'suggestBudgetS',
  'verifyConcurrency',
  'verifier',
  'replCommand',
  'replPoolSize',
  'preset',
  'model',
  'backend',
  'promptFormat',
  'numSamples',
  'temperature',
  'maxNewTokens',
  'device',
  'dtype',
  'endpoint',
  'apiKeyEnv',
  'requestTimeoutS',
  'requestRetries',
  'contextTokens',
  'contextWindow',
  'llamaServer',
  'presets',
  'promptGoals',
  'automationTactics',
  'searchSamples',
  'searchIterations',
  'searchTimeLimitS',
  'wholeProofSamples',
  'maxSuggestions',
  'codeActionWaitMs',
  'hintDiagnostic',
  'logFile',
  'logLevel',
] as const;

export type ServerSettingKey = (typeof SERVER_SETTING_KEYS)[number];

/** Keys whose empty value in VS Code ("" or []) means "the server's own default", sent as null. */
const EMPTY_MEANS_DEFAULT: ReadonlySet<ServerSettingKey> = new Set([
  'leanCommand',
  'replCommand',
  'projectRoot',
  'llamaServer',
  'logFile',
]);

/** Settings that change how the server process is started: a change restarts it. */
export const LAUNCH_SETTINGS = [
  'server.pythonPath',
  'server.command',
  'server.env',
  'server.setupPython',
  'server.installModel',
  'server.torchIndexUrl',
  'server.pipArgs',
] as const;

export interface ConfigurationReader {
  get<T>(key: string): T | undefined;
}

/**
 * Every server setting with its effective value (VS Code fills in the defaults, which mirror the
 * server's). All keys are always sent, so removing a setting in VS Code resets it on the server too.
 */
export function serverSettings(config: ConfigurationReader): Record<ServerSettingKey, unknown> {
  const settings = {} as Record<ServerSettingKey, unknown>;
  for (const key of SERVER_SETTING_KEYS) {
    const value = config.get<unknown>(key);
    const empty = value === undefined || value === '' || (Array.isArray(value) && value.length === 0);
    settings[key] = empty && EMPTY_MEANS_DEFAULT.has(key) ? null : value;
  }
  return settings;
}

