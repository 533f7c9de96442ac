"""The one-shot commands' voice on a terminal (`suggest`, `prove`, `eval prove`): each problem
told once, in plain words.

The engine tells problems through a channel (in the editor: a notification). Here that channel
writes `llmstep-lsp: SEVERITY: MESSAGE` to stderr, without the editor's `llmstep: ` tag. A
command whose answer already says the problem (`no suggestions: cannot start the Lean server …`)
holds the messages and, at the end, drops those the answer repeats; the log records of told
messages are kept off the terminal (`logs.configure_logging`, `shown_elsewhere`).
"""

from __future__ import annotations

import logging
import sys
from typing import TYPE_CHECKING, TextIO

from llmstep_lsp.pipeline.health import MESSAGE_TAG
from llmstep_lsp.pipeline.results import Status

if TYPE_CHECKING:
    from llmstep_lsp.pipeline.results import SuggestionSet

log = logging.getLogger(__name__)

PROG = "llmstep-lsp"


class ConsoleChannel:
    """The engine's channel for a command line: messages on `stream`, no status bar.

    `hold=True` keeps the messages until `release` (a command with one answer); `hold=False`
    writes each at once (a long run, as `eval prove`)."""

    def __init__(self, *, hold: bool, stream: TextIO | None = None) -> None:
        self._hold = hold
        self._stream = stream
        self._held: list[tuple[str, str]] = []
        self._told: list[str] = []

    def show(self, severity: str, message: str) -> None:
        """Tell (or hold) one message; `severity` is 'error', 'warning' or 'info'."""
        text = message.removeprefix(MESSAGE_TAG)
        if self._hold:
            self._held.append((severity, text))
        else:
            self._write(severity, text)

    def status(self, state: Status, message: str) -> None:
        """No status bar here: logged at DEBUG."""
        log.debug("status %s %s", state.value, message)

    def suggestions_ready(self, result: SuggestionSet) -> None:
        """Nothing to do: the command prints the result it awaited."""

    def release(self, answer: str = "") -> None:
        """Write the held messages, except those `answer` (what the command prints next) says."""
        held, self._held = self._held, []
        for severity, text in held:
            if text not in answer:
                self._write(severity, text)

    def told(self, text: str) -> bool:
        """Whether a message written so far said `text`."""
        return any(text in told for told in self._told)

    def _write(self, severity: str, text: str) -> None:
        self._told.append(text)
        print(f"{PROG}: {severity}: {text}", file=self._stream or sys.stderr)
