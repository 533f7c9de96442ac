"""The search's expander against Lean: generate next tactics for a path, check each in a shadow.

The path t1..tk is written at the start point, the candidate after it, then `sorry`; the verifier
does the rest (see `verification/verifier.py`, `verification/batch.py`: Lean's search tactics
count by the tactics they propose). Verdicts are cached by (environment, goals, tactic)
like the suggestion pipeline's, so a state reached twice is never checked twice.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from llmstep_lsp.generation.base import Candidate, GenerationRequest
from llmstep_lsp.search.best_first import Child
from llmstep_lsp.search.proof import after_path
from llmstep_lsp.text.suggestion_point import SuggestionPoint
from llmstep_lsp.verification.batch import verify_candidates
from llmstep_lsp.verification.verifier import CandidateVerifier

CandidateSource = Callable[[GenerationRequest], Awaitable[list[Candidate]]]
RequestBuilder = Callable[[list[str], SuggestionPoint, tuple[str, ...]], GenerationRequest]
"""(document lines, point, goals) → the generation request for the tactic at that point."""


class LeanExpander:
    """The `Expander` for a search from `point` in `lines`: each expansion asks `candidates` (the
    model and automation) for tactics after the path and keeps those `verifier` accepts.

    `environment` is the digest of the file before the declaration (the verdict cache's key part);
    `build_request` makes the generation request for a point. Raises nothing of its own: what
    `candidates` raises propagates; Lean trouble drops a candidate (no verdict, `batch.py`).
    """

    def __init__(
        self,
        verifier: CandidateVerifier,
        candidates: CandidateSource,
        build_request: RequestBuilder,
        lines: list[str],
        point: SuggestionPoint,
        environment: str,
    ) -> None:
        self.verifier = verifier
        self.candidates = candidates
        self.build_request = build_request
        self.lines = lines
        self.point = point
        self.environment = environment
        self.checked = 0
        """Candidates checked in Lean (cache hits not counted)."""

    async def expand(self, path: tuple[str, ...], goals: tuple[str, ...]) -> list[Child]:
        """The verified next steps after `path` (search tactics replaced by their proposals)."""
        lines, point = after_path(self.lines, self.point, path)
        request = self.build_request(lines, point, goals)
        candidates = await self.candidates(request)
        outcomes = await verify_candidates(
            self.verifier, self.environment, lines, point, goals, candidates, request.theorem_name
        )
        self.checked += sum(o.asked_lean for o in outcomes)
        return [
            Child(o.candidate.tactic, _step_logprob(o.candidate), o.result.goals_after)
            for o in outcomes
            if o.kept and o.result is not None
        ]


def _step_logprob(candidate: Candidate) -> float | None:
    """The step's total token log-prob (GPT-f's path score adds these); the mean where a backend
    reports only that."""
    return candidate.log_prob if candidate.log_prob is not None else candidate.score
