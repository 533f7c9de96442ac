"""Best-first proof search (Polu & Sutskever 2020, as in llmstep's proofsearch), Lean-free.

A node is the list of tactics from the start point and the goals Lean reports after them. The
search repeatedly expands the open node with the highest cumulative log-probability: the
`Expander` proposes next tactics and has Lean check each one; children whose tactic Lean accepts
are queued, and the first tactic that leaves no goals ends the search with a complete proof.
A node's score is the sum of its steps' log-probs: a step's is the total token log-prob of its
tactic (`Candidate.log_prob`), so a path's score is the cumulative log-prob of its tokens, as in
GPT-f. Steps without a model score (model-free automation) count as `UNSCORED_STEP_LOGPROB`.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal, Protocol

UNSCORED_STEP_LOGPROB = -1.0
"""Score of a step with no model log-prob: about a typical sampled tactic's mean log-prob."""


@dataclass(frozen=True)
class Child:
    """One checked next step: Lean accepted `tactic` and left `goals_after` (none: proof done)."""

    tactic: str
    logprob: float | None
    goals_after: tuple[str, ...]

    @property
    def closes(self) -> bool:
        """Lean reports no goal after it: the path to it is a complete proof."""
        return not self.goals_after


class Expander(Protocol):
    """What the search asks for each node (`search/lean_expander.py` against Lean; a fake in tests)."""

    async def expand(self, path: tuple[str, ...], goals: tuple[str, ...]) -> list[Child]:
        """The next tactics that Lean accepts after `path`, at the state `goals` (Lean's goal strings,
        main first). May be cancelled at any await: the search is then stopped."""


@dataclass(frozen=True)
class SearchLimits:
    """When the search gives up (iterations and time as in llmstep's proof search)."""

    iterations: int = 100
    """Most node expansions (llmstep: 100)."""
    time_limit_s: float = 600.0
    """Wall-clock budget for the whole search (llmstep: 10 minutes)."""
    max_depth: int = 50
    """Nodes this deep are not expanded further."""


@dataclass(frozen=True)
class SearchProgress:
    """Reported before each expansion (the editor's work-done progress shows it)."""

    expanded: int
    """Nodes expanded so far."""
    depth: int
    """Depth of the node being expanded (number of tactics on its path)."""
    open_nodes: int
    """Nodes queued, not yet expanded."""
    elapsed_s: float
    """Seconds since the search started (monotonic clock)."""


Outcome = Literal["proved", "exhausted", "iterations", "timeout"]


@dataclass(frozen=True)
class SearchResult:
    """How the search ended: `outcome` "proved" (a proof), "exhausted" (no open node left),
    "iterations" or "timeout" (a `SearchLimits` budget spent)."""

    outcome: Outcome
    proof: tuple[str, ...] | None
    """The tactics of the complete proof, in order (None unless `outcome == 'proved'`)."""
    expanded: int
    """Nodes expanded (calls to `Expander.expand` that returned)."""
    max_depth: int
    """The deepest path reached, in tactics."""
    elapsed_s: float
    """Seconds the search took (monotonic clock)."""
    logprob: float | None = None
    """The proof's score: the sum of its steps' log-probs (None unless proved)."""


async def best_first_search(
    expander: Expander,
    goals: tuple[str, ...],
    limits: SearchLimits,
    on_progress: Callable[[SearchProgress], None] | None = None,
) -> SearchResult:
    """Search for tactics that close `goals`; stops at the first complete proof or a limit.

    Cancelling the task that awaits this stops the search (and the expansion in progress).
    """
    started = time.monotonic()
    tie = itertools.count()  # equal scores: first found first
    queue: list[tuple[float, int, float, tuple[str, ...], tuple[str, ...]]] = []
    heapq.heappush(queue, (0.0, next(tie), 0.0, (), goals))
    seen = {goals}  # a state reached again by another path is not searched twice
    expanded = 0
    max_depth = 0

    def result(
        outcome: Outcome, proof: tuple[str, ...] | None = None, logprob: float | None = None
    ) -> SearchResult:
        return SearchResult(outcome, proof, expanded, max_depth, time.monotonic() - started, logprob)

    try:
        async with asyncio.timeout(limits.time_limit_s):
            while queue:
                if expanded >= limits.iterations:
                    return result("iterations")
                _, _, score, path, state = heapq.heappop(queue)
                if len(path) >= limits.max_depth:
                    continue
                max_depth = max(max_depth, len(path))
                if on_progress is not None:
                    on_progress(SearchProgress(expanded, len(path), len(queue), time.monotonic() - started))
                children = await expander.expand(path, state)
                expanded += 1
                scored = [(score + _step_logprob(child), child) for child in children]
                closing = [(s, c) for s, c in scored if c.closes]
                if closing:
                    best_score, best = max(closing, key=lambda sc: sc[0])
                    max_depth = max(max_depth, len(path) + 1)
                    return result("proved", (*path, best.tactic), best_score)
                for child_score, child in scored:
                    if child.goals_after in seen:
                        continue
                    seen.add(child.goals_after)
                    node = (*path, child.tactic)
                    heapq.heappush(queue, (-child_score, next(tie), child_score, node, child.goals_after))
    except TimeoutError:
        return result("timeout")
    return result("exhausted")


def _step_logprob(child: Child) -> float:
    return UNSCORED_STEP_LOGPROB if child.logprob is None else child.logprob
