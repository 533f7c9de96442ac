"""Logging setup: stdout is the LSP pipe, so logs go to stderr (the editor's output panel) or a file."""

from __future__ import annotations

import logging
import os


def configure_logging(level: str | None = None, log_file: str | None = None) -> None:
    level = level or os.environ.get("LLMSTEP_LOG_LEVEL", "INFO")
    handler: logging.Handler = logging.FileHandler(log_file) if log_file else logging.StreamHandler()
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    for old in root.handlers[:]:
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level.upper())
    # pygls logs every message at DEBUG/INFO; keep our own lines readable.
    logging.getLogger("pygls").setLevel(max(logging.WARNING, root.level))
