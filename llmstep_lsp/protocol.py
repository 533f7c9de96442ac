"""Names of llmstep-lsp's own LSP extensions, in one place (the VS Code extension mirrors them)."""

from __future__ import annotations

import enum

STATUS_NOTIFICATION = "llmstep/status"
"""Server → client notification `{"state": Status, "message": str}`: drives the status-bar item."""


class Status(enum.Enum):
    LOADING = "loading"  # the model is loading (or downloading)
    READY = "ready"
    WORKING = "working"  # a suggestion is being computed
    ERROR = "error"  # the model or Lean is unavailable; `message` says why and how to fix it
