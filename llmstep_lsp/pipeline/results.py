"""What a suggestion computation or a proof search hands to publication: immutable values.

A `SuggestionSet` is never changed once made: a computation that grows (model suggestions joining
the model-free ones, `pipeline/growth.py`) makes a new one at each step, and only the final one is cached.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Literal, Protocol

from llmstep_lsp.search.best_first import SearchResult
from llmstep_lsp.text.suggestion_point import SuggestionPoint
from llmstep_lsp.verification.batch import Outcome
from llmstep_lsp.verification.verifier import Verdict


class Status(enum.Enum):
    """The `state` of an `llmstep/status` notification (its JSON value is the enum's value)."""

    LOADING = "loading"  # the model is loading (or downloading)
    READY = "ready"
    WORKING = "working"  # a suggestion is being computed
    ERROR = "error"  # the model or Lean is unavailable; `message` says why and how to fix it


@dataclass(frozen=True)
class Suggestion:
    """One verified tactic: Lean's verdict, the goals it leaves, its model score (None for a
    model-free one) and its source ("model", "automation", or the search tactic that proposed it)."""

    tactic: str
    verdict: Verdict
    goals_after: tuple[str, ...]
    score: float | None
    source: str

    @property
    def closes(self) -> bool:
        """Lean confirmed it closes the goal."""
        return self.verdict is Verdict.CLOSES


@dataclass(frozen=True)
class SuggestionSet:
    """The ranked verified suggestions at one point of one document version (closing first).

    While `pending` names a source (`"model"`, `"automation"`) whose candidates are not all checked
    yet, the set is a snapshot of a computation still growing: never cached, replaced by the next.
    """

    uri: str
    version: int
    point: SuggestionPoint | None
    goals: tuple[str, ...] = ()
    suggestions: tuple[Suggestion, ...] = ()
    note: str = ""
    """Why there is nothing to show, when there is nothing (or what is still awaited)."""
    timings_ms: dict[str, float] = field(default_factory=dict)
    """Stage name → milliseconds; read-only by convention (the dict is shared by snapshots' copies)."""
    outcomes: tuple[Outcome, ...] = ()
    """Every candidate, kept or dropped, with the reason (`verification/batch.py`)."""
    failed: bool = False
    """Lean failed (no server, a crash, a hang) or the budget ran out: not an answer for this text,
    so it is not cached and asking again, once Lean is back, computes again."""
    pending: tuple[str, ...] = ()
    """Sources still generating or whose candidates Lean is still checking."""
    settled: bool = True
    """Every candidate of every source that has answered has its verdict (only unanswered sources
    are pending): a point where the set is worth showing while the rest is awaited."""

    @property
    def final(self) -> bool:
        """Every source has answered or failed and every candidate has its verdict."""
        return not self.pending


ProofMode = Literal["search", "whole"]
"""Best-first proof search, or whole-proof sampling."""


@dataclass(frozen=True)
class ProofReport:
    """The outcome of a proof search or of whole-proof sampling at one point."""

    uri: str
    version: int
    point: SuggestionPoint | None
    proofs: tuple[tuple[str, ...], ...] = ()
    """Complete proofs Lean accepted, best first, as lines relative to the point."""
    search: SearchResult | None = None
    note: str = ""
    """Why there is no proof, when there is none."""
    failed: bool = False
    """Lean could not run (not found, broken, crashed): no answer about this theorem at all."""


class UserChannel(Protocol):
    """How the engine talks to the person at the editor."""

    def show(self, severity: str, message: str) -> None:
        """A message ('error' | 'warning' | 'info') shown to the user and logged."""

    def status(self, state: Status, message: str) -> None:
        """The sidecar's state, for a status-bar item."""

    def suggestions_ready(self, result: SuggestionSet) -> None:
        """A computation finished (whether or not a request still waits for it), or its result grew
        (`result.final` is False then)."""
