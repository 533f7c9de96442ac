"""Asking Lean: the goal at a suggestion point, and each candidate's verdict.

A candidate is put at the suggestion point of a shadow copy, followed by `sorry`, with the rest of
its block and every later declaration dropped. It is *invalid* if Lean reports an error starting on
its line, or any error on the `sorry` line other than "no goals" (a candidate that swallows the
next line, e.g. an unclosed parenthesis, shows up there). Otherwise `plainGoal` just after it gives
the goals that remain: none means it *closes* the goal. Lean never answering in time, or answering
ContentModified after all retries, is not a verdict: the candidate is dropped, never shown unchecked.
A candidate that closes the goal is CLOSES only once `#print axioms` shows it uses no `sorry`
(`verification/soundness.py`); otherwise USES_SORRY, never shown.

Names: `CandidateVerifier` is the interface the engine checks candidates through; `Verifier` is the
concrete shadow-document verifier (one implementation of it; `repl.ReplVerifier` is the other).
"""

from __future__ import annotations

import asyncio
import enum
import logging
from dataclasses import dataclass
from typing import Protocol

from cachetools import LRUCache

from llmstep_lsp.lean.client import GoalState, LeanClient, LeanDiagnostic
from llmstep_lsp.lean.errors import LeanError
from llmstep_lsp.text.encoding import utf16_len
from llmstep_lsp.text.lines import split_lines
from llmstep_lsp.text.suggestion_point import (
    SuggestionPoint,
    candidate_probe_text,
    declaration_end,
    goal_probe_text,
)
from llmstep_lsp.verification.lean_search import is_search_tactic
from llmstep_lsp.verification.shadows import ShadowPool
from llmstep_lsp.verification.soundness import SorryCheck, check_sorry_free

log = logging.getLogger(__name__)

UNSOLVED_GOALS_TAG = 1
INFORMATION = 3


class Verdict(enum.Enum):
    """Lean's answer on one candidate at one point; only CLOSES and VALID are ever offered."""

    CLOSES = "closes"
    """No goal left, and (search tactics aside) `#print axioms` shows no `sorryAx`."""
    VALID = "valid"
    """No error on the candidate; goals remain (`CheckResult.goals_after`)."""
    INVALID = "invalid"
    """Lean reports an error on the candidate (or its `sorry` line), or no tactic state after it."""
    UNKNOWN = "unknown"
    """Lean gave no usable answer (timeout, server trouble): never published."""
    USES_SORRY = "uses_sorry"
    """Lean leaves no goal, but only through `sorry` (`verification/soundness.py`): never published."""


@dataclass(frozen=True)
class CheckResult:
    """Lean's verdict on one tactic at one point.

    `goals_after`: the goals Lean reports after it (empty when it closes them); `error`: the
    message behind an INVALID, USES_SORRY or UNKNOWN verdict; `infos`: Lean's information messages
    on the tactic itself (where `exact?` and friends say "Try this: …"); `timed_out`: no verdict
    because the deadline passed.
    """

    tactic: str
    verdict: Verdict
    goals_after: tuple[str, ...] = ()
    error: str | None = None
    infos: tuple[str, ...] = ()
    timed_out: bool = False


VerdictKey = tuple[str, tuple[str, ...], str]
"""(environment: a digest of the file before the declaration, goals, tactic)."""
VERDICT_CACHE_SIZE = 4096


class CandidateVerifier(Protocol):
    """The interface: what the engine needs from whichever verifier checks next-tactic candidates.

    Two implementations: `Verifier` (this module: shadow documents in the project's Lean server,
    the default) and `verification.repl.ReplVerifier` (leanprover-community/repl in tactic mode,
    setting `verifier: "repl"`). Not to be confused with `Verifier`, the concrete shadow-document
    class, which has more (whole proofs, `#print axioms` probes) that only it can do.
    """

    async def goal_at(self, uri: str, lines: list[str], point: SuggestionPoint) -> GoalState | None:
        """The tactic state at the suggestion point (None: not in a tactic block)."""

    async def check(
        self, lines: list[str], point: SuggestionPoint, goals: tuple[str, ...], tactic: str
    ) -> CheckResult:
        """Lean's verdict on `tactic` at the point, where Lean reported `goals` (all of them, main
        first); UNKNOWN: no verdict, never shown. A verifier that sees only the main goal (the REPL)
        needs the others to tell "closes the goal" from "closes everything"."""

    def cached_verdict(self, key: VerdictKey) -> CheckResult | None:
        """The remembered verdict for (environment digest, goals, tactic), or None."""

    def remember(self, key: VerdictKey, result: CheckResult) -> None:
        """Keep `result` for `key` (a verifier may decline: no verdict is never kept)."""

    def problem(self) -> str | None:
        """What to tell the user (once) while the verifier cannot work; None when it can."""

    def close(self) -> None:
        """Stop whatever processes the verifier owns besides the Lean server."""


async def cached_check(
    verifier: CandidateVerifier, key: VerdictKey, lines: list[str], point: SuggestionPoint, tactic: str
) -> tuple[CheckResult, bool]:
    """The verdict on `tactic` from the verifier's cache, else from Lean (then remembered); the flag
    says whether Lean was asked."""
    if (hit := verifier.cached_verdict(key)) is not None:
        return hit, False
    result = await verifier.check(lines, point, key[1], tactic)
    verifier.remember(key, result)
    return result, True


class VerdictCache:
    """Lean's verdict on a tactic depends only on the goal and the environment it runs in."""

    def __init__(self) -> None:
        self._verdicts: LRUCache[VerdictKey, CheckResult] = LRUCache(VERDICT_CACHE_SIZE)

    def cached_verdict(self, key: VerdictKey) -> CheckResult | None:
        """The remembered verdict for (goal/environment, tactic), or None."""
        return self._verdicts.get(key)

    def remember(self, key: VerdictKey, result: CheckResult) -> None:
        """Keep `result` unless it is no verdict at all; the least recently used goes first."""
        if result.verdict in (Verdict.UNKNOWN, Verdict.USES_SORRY):
            # No verdict: ask again. "Uses sorry" may come from a `sorry` elsewhere in the declaration
            # that the check could not tell apart, which the key does not cover: ask again too.
            return
        self._verdicts[key] = result


class Verifier(VerdictCache):
    """The concrete shadow-document verifier: goals and verdicts from hidden copies of the user's
    file in the project's own Lean server (`LeanClient`, `ShadowPool`).

    One `CandidateVerifier` implementation (the other is `ReplVerifier`), and more than that
    interface: it also reads the goal at the cursor for the REPL verifier, checks whole proofs
    (`probe_diagnostics`: multi-line text needs a document) and runs the `#print axioms` check
    (`sorry_check`). Every call leases one shadow slot; waiting for a slot is not timed, the work in
    it is (`goal_timeout_s`, `verify_timeout_s`, seconds). No method raises for Lean trouble in a
    check: that is a `Verdict.UNKNOWN`; `goal_at` raises `LeanError`.
    """

    def __init__(
        self, lean: LeanClient, shadows: ShadowPool, goal_timeout_s: float, verify_timeout_s: float
    ) -> None:
        super().__init__()
        self.lean = lean
        self.shadows = shadows
        self.goal_timeout_s = goal_timeout_s
        self.verify_timeout_s = verify_timeout_s

    def problem(self) -> str | None:
        """Always None: the Lean server's problems are reported for the project session."""
        return None  # the Lean server's problems are the engine's (`LeanClient.gate`)

    def close(self) -> None:
        """Nothing to stop: the shadow documents close with the Lean server."""
        pass  # the shadow documents live and die with the Lean server

    async def goal_at(self, uri: str, lines: list[str], point: SuggestionPoint) -> GoalState | None:
        """The tactic state at the suggestion point as Lean reports it (None: not in a tactic block)."""
        column = point.tactic_column_utf16
        mirrored = self.lean.mirrored(uri) if point.holds_sorry else None
        if mirrored is not None and split_lines(mirrored[0]) == lines:
            # Lean already holds these lines, `sorry` included: ask there, no shadow needed. Only
            # the editor's text is ever sent for the editor's document (engine.document_changed):
            # text rebuilt from `lines` would lose its line breaks, and could be stale.
            return await self.lean.plain_goal(uri, mirrored[1], point.line, column, self.goal_timeout_s)
        async with self.shadows.lease() as shadow:
            version = await self.lean.sync(shadow, goal_probe_text(through_declaration(lines, point), point))
            return await self.lean.plain_goal(shadow, version, point.line, column, self.goal_timeout_s)

    async def check(
        self, lines: list[str], point: SuggestionPoint, goals: tuple[str, ...], tactic: str
    ) -> CheckResult:
        """The verdict from a shadow document: Lean itself reports every goal left, so `goals` is
        not needed."""
        async with self.shadows.lease() as shadow:  # waiting for a free slot is not part of the deadline
            try:
                async with asyncio.timeout(self.verify_timeout_s):
                    return await self._check_in(shadow, lines, point, tactic)
            except TimeoutError:
                error = f"no verdict within {self.verify_timeout_s:g} s"
                return CheckResult(tactic, Verdict.UNKNOWN, error=error, timed_out=True)
            except LeanError as err:
                log.info("no verdict for %r: %s", tactic, err)
                return CheckResult(tactic, Verdict.UNKNOWN, error=str(err))

    async def probe_diagnostics(self, text: str) -> list[LeanDiagnostic] | None:
        """Lean's diagnostics for `text` in a shadow document (None: no answer within the deadline)."""
        async with self.shadows.lease() as shadow:
            try:
                async with asyncio.timeout(self.verify_timeout_s):
                    version = await self.lean.sync(shadow, text)
                    return await self.lean.diagnostics(shadow, version, self.verify_timeout_s)
            except (TimeoutError, LeanError) as err:
                log.info("no diagnostics for a probe: %s", err or "timeout")
                return None

    async def sorry_check(self, lines: list[str], point: SuggestionPoint, proof: str) -> SorryCheck:
        """`#print axioms` on `proof` (lines after the first already indented) at the point, in a
        shadow document of its own (`verification/soundness.py`)."""
        return await check_sorry_free(self.probe_diagnostics, through_declaration(lines, point), point, proof)

    def probe_text(self, lines: list[str], point: SuggestionPoint, tactic: str) -> str:
        """The shadow text a candidate is checked in: the file through the point's declaration."""
        return candidate_probe_text(through_declaration(lines, point), point, tactic)

    async def _check_in(
        self, shadow: str, lines: list[str], point: SuggestionPoint, tactic: str
    ) -> CheckResult:
        version = await self.lean.sync(shadow, self.probe_text(lines, point, tactic))
        diagnostics = await self.lean.diagnostics(shadow, version, self.verify_timeout_s)
        infos = _infos_on(diagnostics, point)
        error = _candidate_error(diagnostics, point)
        if error is not None:
            return CheckResult(tactic, Verdict.INVALID, error=error.message, infos=infos)
        end = point.tactic_column_utf16 + utf16_len(tactic + point.tail)  # after the whole line's tactic
        state = await self.lean.plain_goal(shadow, version, point.line, end, self.verify_timeout_s)
        if state is None:
            error_text = "Lean reports no tactic state after it"
            return CheckResult(tactic, Verdict.INVALID, error=error_text, infos=infos)
        if not state.closed:
            return CheckResult(tactic, Verdict.VALID, goals_after=state.goals, infos=infos)
        if is_search_tactic(tactic):
            # Never offered itself (only what it proposes is, checked on its own): not worth a
            # second run of a search that can take seconds.
            return CheckResult(tactic, Verdict.CLOSES, infos=infos)

        async def diagnose(text: str) -> list[LeanDiagnostic]:
            probe_version = await self.lean.sync(shadow, text)
            return await self.lean.diagnostics(shadow, probe_version, self.verify_timeout_s)

        sound = await check_sorry_free(diagnose, through_declaration(lines, point), point, tactic)
        return confirmed(CheckResult(tactic, Verdict.CLOSES, infos=infos), sound)


def confirmed(result: CheckResult, sound: SorryCheck) -> CheckResult:
    """A closing verdict once `#print axioms` has spoken: CLOSES only if sorry-free, USES_SORRY if
    not, UNKNOWN if Lean gave no answer."""
    if sound.sorry_free:
        return result
    verdict = Verdict.UNKNOWN if sound.sorry_free is None else Verdict.USES_SORRY
    return CheckResult(result.tactic, verdict, error=sound.detail, infos=result.infos)


def through_declaration(lines: list[str], point: SuggestionPoint) -> list[str]:
    """The file up to the end of the point's declaration. Later commands cannot change a verdict
    here, but a worker would re-elaborate all of them after every probe edit, and
    `waitForDiagnostics` waits for them (measured: bench/verifiers.py, README "Verification")."""
    declaration = point.declaration
    if declaration is None:
        return lines
    return lines[: declaration_end(lines, declaration.start_line, point.line + 1)]


def _candidate_error(diagnostics: list[LeanDiagnostic], point: SuggestionPoint) -> LeanDiagnostic | None:
    start = (point.line, point.tactic_column_utf16)
    sorry_line = point.line + 1
    for diagnostic in diagnostics:
        if not diagnostic.is_error or UNSOLVED_GOALS_TAG in diagnostic.lean_tags:
            continue
        if diagnostic.message.lower().startswith("unsolved goals"):
            continue  # "goals remain" (older Lean without leanTags), reported at `by`
        if diagnostic.start[0] == point.line and diagnostic.start >= start:
            return diagnostic
        if diagnostic.start[0] == sorry_line and not _is_no_goals(diagnostic):
            return diagnostic
    return None


def _infos_on(diagnostics: list[LeanDiagnostic], point: SuggestionPoint) -> tuple[str, ...]:
    """Information messages that start on the candidate itself (its line, from its column)."""
    start = (point.line, point.tactic_column_utf16)
    return tuple(
        d.message
        for d in diagnostics
        if d.severity == INFORMATION and d.start[0] == point.line and d.start >= start
    )


def _is_no_goals(diagnostic: LeanDiagnostic) -> bool:
    return diagnostic.message.lower().startswith("no goals")
