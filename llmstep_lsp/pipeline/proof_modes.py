"""Proof search and whole-proof sampling at a point, for the `SuggestionEngine` (a mixin: the
engine provides the sessions, the status and the generators), and what they share with suggestions:
the generation request at a point and the environment digest that keys Lean's verdicts.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections.abc import Callable
from dataclasses import dataclass, replace

from llmstep_lsp.config.settings import Settings
from llmstep_lsp.generation import GenerationRequest, ModelUnavailable
from llmstep_lsp.generation.factory import ModelGenerator
from llmstep_lsp.lean.client import LeanClient
from llmstep_lsp.lean.errors import LeanError
from llmstep_lsp.lean.project import LeanProject
from llmstep_lsp.pipeline.growth import CandidateSources
from llmstep_lsp.pipeline.results import ProofMode, ProofReport, Status, UserChannel
from llmstep_lsp.search.best_first import SearchLimits, SearchProgress, best_first_search
from llmstep_lsp.search.lean_expander import LeanExpander
from llmstep_lsp.search.whole_proof import (
    WholeProof,
    check_whole_proof,
    confirm_sorry_free,
    sample_proofs,
    writes_whole_proofs,
)
from llmstep_lsp.text.lines import split_lines
from llmstep_lsp.text.suggestion_point import SuggestionPoint, find_suggestion_point
from llmstep_lsp.verification.goals import goal_for_point
from llmstep_lsp.verification.verifier import CandidateVerifier, Verifier

log = logging.getLogger(__name__)


@dataclass
class ProjectSession:
    """One Lean project's server and verifiers (started lazily, per project root)."""

    project: LeanProject
    lean: LeanClient
    verifier: CandidateVerifier
    """Checks next-tactic candidates (shadow documents, or the REPL)."""
    documents: Verifier
    """The shadow-document verifier: whole proofs are checked as text in a document."""


class ProofModes:
    """Proof search and whole proofs, run in the background per document (an edit cancels them)."""

    settings: Settings
    model: ModelGenerator | None
    sources: CandidateSources
    _channel: UserChannel
    _working: int
    _proof_tasks: dict[str, set[asyncio.Task[ProofReport]]]

    def _report_idle(self) -> None:
        """The status once work ends (the engine's)."""
        raise NotImplementedError

    async def _session_for(self, uri: str) -> ProjectSession | str:
        """The project's running session, or why there is none (the engine's)."""
        raise NotImplementedError

    def start_proof_task(
        self,
        uri: str,
        version: int,
        text: str,
        line: int,
        mode: ProofMode,
        on_progress: Callable[[SearchProgress], None] | None = None,
    ) -> asyncio.Task[ProofReport]:
        """Run `search_proof` (mode 'search') or `complete_proof` (mode 'whole') in the background;
        an edit of the document cancels it."""
        if mode == "search":
            work = self.search_proof(uri, version, text, line, on_progress)
        else:
            work = self.complete_proof(uri, version, text, line)
        task = asyncio.create_task(work)
        tasks = self._proof_tasks.setdefault(uri, set())
        tasks.add(task)
        task.add_done_callback(tasks.discard)
        return task

    async def search_proof(
        self,
        uri: str,
        version: int,
        text: str,
        line: int,
        on_progress: Callable[[SearchProgress], None] | None = None,
    ) -> ProofReport:
        """Best-first search for a complete proof at `line` (see `search/best_first.py`)."""
        lines = split_lines(text)
        start = await self._proof_start(uri, version, lines, line)
        if isinstance(start, ProofReport):
            return start
        session, point, goals = start
        expander = LeanExpander(
            session.verifier,
            lambda request: self.sources.all(replace(request, num_samples=self.settings.search_samples)),
            self._request_for,
            lines,
            point,
            environment_digest(lines, point),
        )
        limits = SearchLimits(self.settings.search_iterations, self.settings.search_time_limit_s)
        self._working += 1
        self._channel.status(Status.WORKING, f"searching for a proof at line {line + 1}")
        try:
            result = await best_first_search(expander, goals, limits, on_progress)
        except LeanError as err:
            return ProofReport(uri, version, point, note=f"Lean: {err}")
        finally:
            self._working -= 1
            self._report_idle()
        log.info(
            "search %s:%d v%d: %s after %d expansions (%d checked in Lean) in %.1f s",
            uri, line, version, result.outcome, result.expanded, expander.checked, result.elapsed_s,
        )  # fmt: skip
        proofs = (result.proof,) if result.proof else ()
        note = "" if proofs else _SEARCH_NOTES[result.outcome]
        if result.proof:  # every step was checked, but a `sorry` may hide in a VALID one
            sound = await confirm_sorry_free(session.documents, lines, point, result.proof)
            if not sound.sorry_free:
                proofs, note = (), f"the proof found was not confirmed sorry-free: {sound.detail}"
        return ProofReport(uri, version, point, proofs, result, note)

    @property
    def whole_proofs_available(self) -> bool:
        """A whole-proof capable model is configured and `wholeProofSamples` > 0."""
        return (
            self.model is not None
            and self.settings.whole_proof_samples > 0
            and writes_whole_proofs(self.model.config.format)
        )

    async def complete_proof(self, uri: str, version: int, text: str, line: int) -> ProofReport:
        """Whole-proof mode: sample `wholeProofSamples` proofs from the model, keep those Lean accepts."""
        if self.model is None or not self.whole_proofs_available:
            note = "whole-proof mode needs a whole-proof model and wholeProofSamples > 0"
            return ProofReport(uri, version, None, note=note)
        lines = split_lines(text)
        start = await self._proof_start(uri, version, lines, line)
        if isinstance(start, ProofReport):
            return start
        session, point, goals = start
        request = replace(
            self._request_for(lines, point, goals), num_samples=self.settings.whole_proof_samples
        )
        try:
            candidates = await sample_proofs(
                self.model, self.model.config.format, request, self.model.config.max_new_tokens
            )
        except ModelUnavailable as err:
            return ProofReport(uri, version, point, note=str(err))

        async def accepted(proof: WholeProof) -> bool:
            return await check_whole_proof(session.documents, lines, point, proof.lines)

        verdicts = await asyncio.gather(*(accepted(p) for p in candidates))
        proofs = tuple(p.lines for p, ok in zip(candidates, verdicts, strict=True) if ok)
        log.info("whole proofs %s:%d v%d: %d/%d accepted", uri, line, version, len(proofs), len(candidates))
        note = "" if proofs else f"Lean accepted none of the {len(candidates)} sampled proofs"
        return ProofReport(uri, version, point, proofs, note=note)

    async def _proof_start(
        self, uri: str, version: int, lines: list[str], line: int
    ) -> tuple[ProjectSession, SuggestionPoint, tuple[str, ...]] | ProofReport:
        """The session, point and open goals to prove from, or a report saying why there are none."""
        point = find_suggestion_point(lines, line)
        if point is None:
            return ProofReport(uri, version, None, note="not a tactic position")
        if point.tail:  # a found proof is whole lines: the tail would land after its last one
            return ProofReport(
                uri, version, point, note=f"the line goes on after the tactic ({point.tail.strip()})"
            )
        session = await self._session_for(uri)
        if not isinstance(session, ProjectSession):
            return ProofReport(uri, version, point, note=session, failed=True)
        try:
            state, point = await goal_for_point(session.verifier, uri, lines, point)
        except LeanError as err:
            return ProofReport(uri, version, point, note=f"Lean: {err}", failed=True)
        if state is None or state.closed:
            return ProofReport(uri, version, point, note="Lean reports no open goal here")
        return session, point, state.goals

    def _request_for(
        self, lines: list[str], point: SuggestionPoint, goals: tuple[str, ...]
    ) -> GenerationRequest:
        """The generation request at the point, with all goals or the main one (`promptGoals`)."""
        return generation_request(lines, point, goals if self.settings.prompt_goals == "all" else goals[:1])


_SEARCH_NOTES = {
    "proved": "",
    # Callers say "no proof: <note>".
    "exhausted": "every verified path was tried",
    "iterations": "none within the search's iteration limit (searchIterations)",
    "timeout": "none within the search's time limit (searchTimeLimitS)",
}


def generation_request(lines: list[str], point: SuggestionPoint, goals: tuple[str, ...]) -> GenerationRequest:
    """What the generators get at `point`: the goals, the typed prefix, the file before the point and
    the enclosing declaration's statement."""
    declaration = point.declaration
    return GenerationRequest(
        goal="\n\n".join(goals),
        prefix=point.prefix,
        context="".join(line + "\n" for line in lines[: point.line]),
        # A proof on the declaration's own line: the statement is what precedes the tactic there.
        declaration=(point.indent if declaration.start_line == point.line else declaration.text)
        if declaration
        else "",
        theorem_name=declaration.name if declaration else None,
        indent=point.indent,
    )


def environment_digest(lines: list[str], point: SuggestionPoint) -> str:
    """What a tactic's verdict depends on besides its goal: the file before the declaration."""
    declaration = point.declaration
    before = lines[: declaration.start_line] if declaration else lines[: point.line]
    return hashlib.sha256("\n".join(before).encode()).hexdigest()
