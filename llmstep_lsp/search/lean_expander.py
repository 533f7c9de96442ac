"""The search's expander against Lean: generate next tactics for a path, check each in a shadow.

The path t1..tk is written at the start point, the candidate after it, then `sorry`; the verifier
does the rest (see `verification/verifier.py`). Verdicts are cached by (environment, goals, tactic)
like the suggestion pipeline's, so a state reached twice is never checked twice.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from llmstep_lsp.generation.base import Candidate, GenerationRequest
from llmstep_lsp.proofpoint import SuggestionPoint
from llmstep_lsp.search.best_first import Child
from llmstep_lsp.search.proof import after_path
from llmstep_lsp.verification.verifier import CandidateVerifier, CheckResult, Verdict, cached_check

CandidateSource = Callable[[GenerationRequest], Awaitable[list[Candidate]]]
RequestBuilder = Callable[[list[str], SuggestionPoint, tuple[str, ...]], GenerationRequest]
"""(document lines, point, goals) → the generation request for the tactic at that point."""


class LeanExpander:
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
        lines, point = after_path(self.lines, self.point, path)
        candidates = await self.candidates(self.build_request(lines, point, goals))
        results = await asyncio.gather(*(self._check(lines, point, goals, c.tactic) for c in candidates))
        return [
            Child(candidate.tactic, _step_logprob(candidate), result.goals_after)
            for candidate, result in zip(candidates, results, strict=True)
            if result.verdict in (Verdict.CLOSES, Verdict.VALID)
        ]

    async def _check(
        self, lines: list[str], point: SuggestionPoint, goals: tuple[str, ...], tactic: str
    ) -> CheckResult:
        key = (self.environment, goals, tactic)
        result, asked_lean = await cached_check(self.verifier, key, lines, point, tactic)
        if asked_lean:
            self.checked += 1
        return result


def _step_logprob(candidate: Candidate) -> float | None:
    """The step's total token log-prob (GPT-f's path score adds these); the mean where a backend
    reports only that."""
    return candidate.log_prob if candidate.log_prob is not None else candidate.score
