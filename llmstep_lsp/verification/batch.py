"""Verifying a ranked candidate list at one point: one `Outcome` per candidate, saying whether it is
offered and why (or why not), Lean's search tactics replaced by the tactics they propose.

Candidates are checked concurrently (the verifier bounds how many at once); verdicts come from the
verifier's cache when Lean was already asked about the same tactic on the same goals in the same
environment. A search tactic (`exact?`, …; `verification/lean_search.py`) is never offered itself:
its "Try this" proposals pass the candidate filter and are checked as plain tactics, with the
search tactic as their `source`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from llmstep_lsp.generation.base import Candidate
from llmstep_lsp.generation.filters import rejection_reason
from llmstep_lsp.text.suggestion_point import SuggestionPoint
from llmstep_lsp.verification.lean_search import is_search_tactic, proposed_tactics
from llmstep_lsp.verification.verifier import CandidateVerifier, CheckResult, Verdict, cached_check

OFFERED = frozenset({Verdict.CLOSES, Verdict.VALID})


@dataclass(frozen=True)
class Outcome:
    """What became of one candidate: kept (verified, may be offered) or dropped, and why.

    `reason` is one of "closes goal", "goals left" (kept), "filter", "lean error", "uses sorry",
    "timeout", "no verdict", "search tactic" (dropped); `detail` is the filter rule, Lean's message
    or the axioms. `result` is None for a candidate Lean never saw.
    """

    candidate: Candidate
    reason: str
    detail: str = ""
    result: CheckResult | None = None
    asked_lean: bool = False
    """The verdict came from Lean now, not from the cache (proof search counts these)."""

    @property
    def kept(self) -> bool:
        """Verified (closes the goal, or leaves goals without error): may be offered."""
        return self.result is not None and self.result.verdict in OFFERED and self.reason != "search tactic"

    @property
    def closes(self) -> bool:
        """Kept, and Lean confirmed it closes the goal without `sorry`."""
        return self.kept and self.result is not None and self.result.verdict is Verdict.CLOSES


def filtered(candidate: Candidate, rule: str) -> Outcome:
    """The outcome of a candidate the filter kept from Lean."""
    return Outcome(candidate, "filter", rule)


def outcome_of(candidate: Candidate, result: CheckResult, asked_lean: bool = False) -> Outcome:
    """A verdict as an outcome with its reason."""
    verdict = result.verdict
    if verdict is Verdict.CLOSES:
        return Outcome(candidate, "closes goal", "", result, asked_lean)
    if verdict is Verdict.VALID:
        left = len(result.goals_after)
        return Outcome(
            candidate, "goals left", f"{left} goal{'s' if left != 1 else ''} left", result, asked_lean
        )
    reason = {Verdict.INVALID: "lean error", Verdict.USES_SORRY: "uses sorry"}.get(verdict)
    if reason is None:
        reason = "timeout" if result.timed_out else "no verdict"
    return Outcome(candidate, reason, result.error or "", result, asked_lean)


async def verify_candidates(
    verifier: CandidateVerifier,
    environment: str,
    lines: list[str],
    point: SuggestionPoint,
    goals: tuple[str, ...],
    candidates: list[Candidate],
    theorem_name: str | None = None,
) -> list[Outcome]:
    """Outcomes in candidate order (a search tactic followed by its proposals' outcomes).
    Raises what the verifier raises (`LeanError` is a verdict there)."""

    async def check(candidate: Candidate) -> Outcome:
        key = (environment, goals, candidate.tactic)
        result, asked = await cached_check(verifier, key, lines, point, candidate.tactic)
        return outcome_of(candidate, result, asked)

    async def run(candidate: Candidate) -> list[Outcome]:
        outcome = await check(candidate)
        if is_search_tactic(candidate.tactic):
            return await _expand(outcome, check, theorem_name)
        return [outcome]

    found = await asyncio.gather(*(run(c) for c in candidates))
    return [o for outcomes in found for o in outcomes]


async def _expand(
    outcome: Outcome, check: Callable[[Candidate], Awaitable[Outcome]], theorem_name: str | None
) -> list[Outcome]:
    """A search tactic's own outcome (never offered) followed by those of the tactics it proposed."""
    parent = outcome.candidate
    result = outcome.result
    proposals = proposed_tactics(result.infos) if result is not None else []
    said = result.error if result is not None and result.error else ""
    detail = f"proposed {proposals}" if proposals else f"Lean proposed nothing{': ' + said if said else ''}"
    own = Outcome(parent, "search tactic", detail, result, outcome.asked_lean)
    children: list[Candidate | Outcome] = []  # in Lean's order: filtered ones, or ones to check
    for tactic in proposals:
        child = Candidate(tactic, parent.score, parent.tactic, parent.log_prob)
        rule = rejection_reason(tactic, theorem_name)
        if rule is None and is_search_tactic(tactic):
            rule = "a search tactic proposing another"
        children.append(child if rule is None else filtered(child, rule))
    checked = iter(await asyncio.gather(*(check(c) for c in children if isinstance(c, Candidate))))
    return [own, *(next(checked) if isinstance(c, Candidate) else c for c in children)]
