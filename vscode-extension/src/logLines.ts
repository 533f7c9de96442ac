// The server's stderr, line by line, at the level it was logged with. The sidecar logs as
// `%(asctime)s %(levelname)s %(name)s: %(message)s` (llmstep_lsp/logs.py); a line without that head
// (a traceback, a library's print) continues the record above it, at its level.
// No `vscode` import here, so it can be unit-tested in plain Node.

export type LogLevel = 'trace' | 'debug' | 'info' | 'warn' | 'error';

export interface LogLine {
  level: LogLevel;
  /** The line without the server's timestamp (the output channel adds its own). */
  text: string;
}

const HEAD = /^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} (DEBUG|INFO|WARNING|ERROR|CRITICAL) (.*)$/;
const LEVELS: Record<string, LogLevel> = {
  DEBUG: 'debug',
  INFO: 'info',
  WARNING: 'warn',
  ERROR: 'error',
  CRITICAL: 'error',
};

/** Tracks the level of the record being continued across lines. */
export class LogLineParser {
  private level: LogLevel = 'info';

  parse(line: string): LogLine {
    const match = HEAD.exec(line);
    if (match) {
      this.level = LEVELS[match[1]];
      return { level: this.level, text: match[2] };
    }
    return { level: this.level, text: line };
  }
}
