"""What the user has been told about problems: each topic once, until it is over.

A topic is "model", "lean:<root>" (the project's Lean server) or "verifier:<root>" (its REPL).
The latest problem told is the sidecar's ERROR status until its topic is over, so the status bar
never shows an error that has been fixed, and a later failure of the same kind is told again.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

from llmstep_lsp.logs import SHOWN
from llmstep_lsp.processes.restarts import RestartGate
from llmstep_lsp.verification.verifier import CandidateVerifier

log = logging.getLogger(__name__)

Show = Callable[[str, str], None]
"""(severity 'error' | 'warning' | 'info', message): shown to the user."""


MESSAGE_TAG = "llmstep: "
"""How the sidecar's messages to the user (window/showMessage) start: the editor shows other
extensions' messages beside them."""


class Notices:
    """What the user was told about problems, by topic: each told once until it is over, the latest
    problem kept as the ERROR status message."""

    def __init__(self, show: Show) -> None:
        self._show = show
        self._told: dict[str, str] = {}
        """Topic → the message told, while the problem lasts."""
        self.problem: str | None = None
        """The message for the ERROR status while its problem lasts; None when there is none."""
        self._problem_topic: str | None = None

    @property
    def problem_kind(self) -> str | None:
        """What the ERROR status is about: "model", "lean" or "verifier"; None when there is none."""
        return self._problem_topic.split(":", 1)[0] if self._problem_topic else None

    def say_once(self, topic: str, severity: str, message: str) -> None:
        """Show `message` (and log it) unless `topic` was told and is not over yet."""
        if topic in self._told:
            return
        self._told[topic] = message
        self.problem, self._problem_topic = message, topic
        level = logging.ERROR if severity == "error" else logging.WARNING
        log.log(level, "%s", message, extra={SHOWN: True})
        self._show(severity, message)

    def over(self, topic: str, info: str | None = None) -> None:
        """The problem `topic` is over: it ends the ERROR status it set; `info` is shown if it had
        been told. A later problem of this topic is told again."""
        if topic not in self._told:
            return
        del self._told[topic]
        if self._problem_topic == topic:
            self.problem = self._problem_topic = None
        if info:
            self._show("info", info)

    def told(self, topic: str) -> str | None:
        """The message told about `topic` while its problem lasts (without the `llmstep: ` tag);
        None when there is no such problem."""
        message = self._told.get(topic)
        return message.removeprefix(MESSAGE_TAG) if message is not None else None

    def forget(self, *prefixes: str) -> None:
        """Every topic starting with one of `prefixes` is over, silently (their sessions are gone)."""
        for topic in [t for t in self._told if t.startswith(prefixes)]:
            self.over(topic)


def model_unavailable(err: Exception) -> str:
    """What the user is told when the model cannot be used: why, and that suggestions go on."""
    return f"llmstep: {err} Until then, only the model-free tactics (rfl, simp, omega, …) are suggested."


def note_lean_health(notices: Notices, root: Path, gate: RestartGate) -> None:
    """A Lean server reported as failing answers again: say so, and end its error status."""
    if gate.take_recovery():
        notices.over(f"lean:{root}", f"llmstep: the Lean server for {root} answers again.")


def note_verifier_health(notices: Notices, root: Path, verifier: CandidateVerifier) -> None:
    """Tell the user once when the candidate verifier (the REPL) cannot start, and when it can."""
    if (problem := verifier.problem()) is not None:
        notices.say_once(f"verifier:{root}", "error", problem)
    else:
        notices.over(f"verifier:{root}", "llmstep: the REPL verifier works again.")


def suggestion_note(
    *, kept: int, checked: int, filtered: int, prefix: str, model: str | None, model_problem: str | None
) -> str:
    """What a suggestion answer says beside its suggestions (`SuggestionSet.note`): the model's
    problem when the suggestions are model-free only, why nothing was kept, or why nothing was
    generated at all. `checked`: candidates sent to Lean; `filtered`: samples the filter dropped;
    `model`: the configured model, None without one; `model_problem`: what the user was told."""
    if kept:
        return model_problem or ""
    if checked:
        note = f"no candidate passed Lean's check ({checked} tried)"
        return f"{note}; {model_problem}" if model_problem else note
    free = f"no model-free tactic starts with {prefix!r}" if prefix else "the model-free tactics are off"
    if model is None:
        sampled = "no model is configured"
    elif model_problem:
        sampled = model_problem
    elif filtered:
        sampled = f"the filter dropped all {filtered} of the model's samples (see candidates)"
    else:
        sampled = f"{model} sampled nothing"
    return f"nothing was generated: {free}, and {sampled}"
