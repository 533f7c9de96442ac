"""Logging setup: stdout is the LSP pipe, so logs go to stderr (the editor's output panel) or a file."""

from __future__ import annotations

import logging
import os

SHOWN = "shown"
"""A log record's attribute (`extra={SHOWN: True}`): its message was also shown to the user."""


def configure_logging(
    level: str | None = None, log_file: str | None = None, *, shown_elsewhere: bool = False
) -> None:
    """Log at `level` (default: `LLMSTEP_LOG_LEVEL`, else INFO) to `log_file` or stderr.
    `shown_elsewhere`: the user's messages reach stderr another way (a command line's own output),
    so their log records are not written there a second time."""
    level = level or os.environ.get("LLMSTEP_LOG_LEVEL", "INFO")
    handler: logging.Handler = logging.FileHandler(log_file) if log_file else logging.StreamHandler()
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    if shown_elsewhere and not log_file:
        handler.addFilter(lambda record: not getattr(record, SHOWN, False))
    root = logging.getLogger()
    for old in root.handlers[:]:
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level.upper())
    # pygls logs every message at DEBUG/INFO; keep our own lines readable.
    logging.getLogger("pygls").setLevel(max(logging.WARNING, root.level))
