"""The suggestion pipeline: goal at the cursor → candidates → Lean verdicts → ranked suggestions.

One `ProjectSession` (a Lean server, its shadow pool and verifier) per Lean project, started
lazily; editor documents (read from the server's `DocumentStore`) are mirrored into it. Results
are cached per (uri, version, line) and a computation in flight is shared by every request for the
same key; an edit cancels whatever is in flight for that document, so nothing computed for old
text is ever returned.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from dataclasses import replace
from pathlib import Path

from cachetools import LRUCache

from llmstep_lsp.config.presets import PresetError
from llmstep_lsp.config.settings import Settings
from llmstep_lsp.generation import Candidate, ModelUnavailable
from llmstep_lsp.generation.automation import AutomationGenerator
from llmstep_lsp.generation.factory import ModelGenerator, build_model_generator
from llmstep_lsp.lean.client import LeanClient
from llmstep_lsp.lean.errors import LeanError, LeanNotFound
from llmstep_lsp.pipeline.growth import CandidateSources, Computation, Growth, grow, ms_since, snapshot
from llmstep_lsp.pipeline.health import (
    Notices,
    model_unavailable,
    note_lean_health,
    note_verifier_health,
    suggestion_note,
)
from llmstep_lsp.pipeline.proof_modes import ProjectSession, ProofModes, environment_digest
from llmstep_lsp.pipeline.results import ProofReport, Status, SuggestionSet, UserChannel
from llmstep_lsp.text.documents import DocumentStore
from llmstep_lsp.text.lines import split_lines
from llmstep_lsp.text.suggestion_point import find_suggestion_point
from llmstep_lsp.text.uris import project_of
from llmstep_lsp.verification.batch import Outcome, verify_candidates
from llmstep_lsp.verification.factory import build_verifiers
from llmstep_lsp.verification.goals import goal_for_point

log = logging.getLogger(__name__)

CACHE_SIZE = 512


class SuggestionEngine(ProofModes):
    """The pipeline's entry point: mirrors documents into per-project Lean sessions, computes
    suggestions (cached per (uri, version, line), shared while in flight, growing as sources answer),
    runs proof modes, and reports through its `UserChannel`; raises nothing to the LSP layer."""

    def __init__(self, settings: Settings, channel: UserChannel, documents: DocumentStore) -> None:
        self.settings = settings
        self.documents = documents  # the editor's open documents (the caller's one store): read only
        self._channel = channel
        self._notices = Notices(channel.show)  # problems told once; the latest is the ERROR status
        self._working = 0
        self._sessions: dict[Path, ProjectSession] = {}
        self._cache: LRUCache[tuple[str, int, int], SuggestionSet] = LRUCache(CACHE_SIZE)
        self._in_flight: dict[tuple[str, int, int], Computation] = {}
        self._proof_tasks: dict[str, set[asyncio.Task[ProofReport]]] = {}
        self._build_generators()

    # --- configuration -------------------------------------------------------------------------

    def _build_generators(self) -> None:
        if (old := getattr(self, "model", None)) is not None:  # a server it started stops
            asyncio.get_running_loop().create_task(old.close()).add_done_callback(_log_task_failure)
        self.model: ModelGenerator | None = None
        try:
            config = self.settings.generation()
        except PresetError as err:  # validated with the settings; reported there
            log.error("generation settings: %s", err)
            config = None
        if config is not None:
            self.model = build_model_generator(config)
        self.automation = AutomationGenerator(self.settings.automation_tactics)
        self.sources = CandidateSources(self.model, self.automation, self._notices, self._reload_model)

    def configure(self, settings: Settings) -> None:
        """Replace the settings before any Lean server started (at `initialize`)."""
        self.settings = settings
        self._build_generators()

    async def update_settings(self, settings: Settings) -> None:
        """Apply new settings: rebuild the generators if generation changed (a managed server stops),
        restart Lean sessions lazily if their command changed, and forget cached results."""
        old, self.settings = self.settings, settings
        if (
            _generation_of(old) != _generation_of(settings)
            or old.automation_tactics != settings.automation_tactics
        ):
            self._build_generators()
            self._notices.over("model")
            self.warm_up_model()
        if _session_settings(old) != _session_settings(settings):
            await self.shutdown()  # sessions restart lazily with the new command
            self._notices.forget("lean:", "verifier:")  # new sessions: their problems are news again
        for session in self._sessions.values():
            session.lean.gate.reset()  # a settings change may be the fix: retry at once
        self._forget_all()
        self._report_idle()

    @property
    def problem_kind(self) -> str | None:
        """What the ERROR status is about ("model", "lean", "verifier"); None without a problem."""
        return self._notices.problem_kind

    def warm_up_model(self) -> None:
        """Announce the first status: start loading the model in the background (`loading`, then
        `ready` or `error`) so the first suggestion does not wait for it, or `ready` without a model."""
        if self.model is not None:
            task = asyncio.create_task(self._load_model())
            task.add_done_callback(_log_task_failure)
        else:
            self._report_idle()

    async def _load_model(self, announce: bool = True) -> None:
        assert self.model is not None
        if announce:  # at warm-up, and when a managed server restarts
            self._channel.status(Status.LOADING, f"loading {self.model.config.model}")
        try:
            await self.model.load()
        except ModelUnavailable as err:  # said now: the status bar must not say "ready"
            self._notices.say_once("model", "warning", model_unavailable(err))
        if announce:
            self._report_idle()

    async def _reload_model(self) -> None:
        """Before a request's model source runs: the load (a no-op once loaded), announced when it
        is work again (a managed llama.cpp server restarting)."""
        if self.model is not None:
            await self._load_model(announce=self.model.load_pending)

    def _report_idle(self) -> None:
        for root, session in self._sessions.items():
            note_lean_health(self._notices, root, session.lean.gate)
        if self._working == 0:
            if self._notices.problem:
                self._channel.status(Status.ERROR, self._notices.problem)
            else:
                self._channel.status(Status.READY, "")

    # --- documents -----------------------------------------------------------------------------

    async def document_opened(self, uri: str) -> None:
        """`uri` was opened in `documents`: mirror it into its project's Lean server."""
        await self.document_changed(uri)

    async def document_changed(self, uri: str) -> None:
        """`uri` changed in `documents`: forget its results, send the newest text to Lean."""
        self._forget(uri)
        found = await self._session_for(uri)
        session = found if isinstance(found, ProjectSession) else None
        # Change handlers run as concurrent tasks: send whatever text is newest *now*, so a slower
        # older handler can never put stale text back into Lean (byte for byte the editor's).
        latest = self.documents.get(uri)
        if session is not None and latest is not None:
            with contextlib.suppress(LeanError):  # reported by _session_for / the next request
                await session.lean.sync(uri, latest.text)

    async def document_closed(self, uri: str) -> None:
        """`uri` was closed in `documents`: cancel its work, forget its results, close it in Lean."""
        self._forget(uri)
        root = _project_root_key(uri, self.settings)
        session = self._sessions.get(root) if root else None
        if session is not None:
            with contextlib.suppress(LeanError):
                await session.lean.close(uri)

    def _forget(self, uri: str) -> None:
        for proof_task in self._proof_tasks.pop(uri, set()):
            proof_task.cancel()  # a proof for old text would be refused by the editor anyway
        for key in [k for k in self._in_flight if k[0] == uri]:
            self._in_flight.pop(key).task.cancel()
        for key in [k for k in self._cache if k[0] == uri]:
            del self._cache[key]

    def _forget_all(self) -> None:
        for proofs in self._proof_tasks.values():
            for proof_task in proofs:
                proof_task.cancel()
        self._proof_tasks.clear()
        for computation in self._in_flight.values():
            computation.task.cancel()
        self._in_flight.clear()
        self._cache.clear()

    # --- suggestions ---------------------------------------------------------------------------

    def cached(self, uri: str, version: int, line: int) -> SuggestionSet | None:
        """The final result for (uri, version, line) if computed, else None."""
        return self._cache.get((uri, version, line))

    def in_flight(self, uri: str, version: int, line: int) -> bool:
        """Whether a computation for (uri, version, line) is running."""
        return (uri, version, line) in self._in_flight

    def early_result(self, uri: str, version: int, line: int) -> SuggestionSet | None:
        """The latest snapshot of a computation still growing (None before anything is known)."""
        computation = self._in_flight.get((uri, version, line))
        return computation.latest if computation is not None else None

    async def suggest(
        self, uri: str, version: int, text: str, line: int, settled: bool = False
    ) -> SuggestionSet:
        """Verified suggestions for `line` of `uri` at editor `version` (cached, shared in flight).

        The final set; with `settled`, a settled snapshot with suggestions as soon as there is one
        (the model-free ones while the model is still generating, `pipeline/growth.py`).
        """
        key = (uri, version, line)
        if (hit := self._cache.get(key)) is not None:
            return hit
        computation = self._in_flight.get(key)
        if computation is None:
            task = asyncio.create_task(self._compute(uri, version, text, line))
            computation = self._in_flight[key] = Computation(task)
            self._working += 1
            self._channel.status(Status.WORKING, f"line {line + 1}")
            task.add_done_callback(lambda t: self._finish(key, t))
        # One caller giving up (a $/cancelRequest) must not cancel the others' computation.
        return await computation.result(settled)

    def _finish(self, key: tuple[str, int, int], task: asyncio.Task[SuggestionSet]) -> None:
        computation = self._in_flight.get(key)
        if computation is not None and computation.task is task:
            del self._in_flight[key]
        self._working -= 1
        self._report_idle()
        if task.cancelled():
            return
        if (error := task.exception()) is not None:
            log.error("computing suggestions for %s failed", key, exc_info=error)
            return
        if not task.result().failed:
            self._cache[key] = task.result()
        self._channel.suggestions_ready(task.result())

    def _grew(self, key: tuple[str, int, int], snapshot: SuggestionSet) -> None:
        """A new snapshot of the computation for `key`: kept for requests, and published (a hint)
        when settled with new suggestions (`Computation.grew`); the final one is published by `_finish`."""
        computation = self._in_flight.get(key)
        if computation is not None and computation.grew(snapshot):
            self._channel.suggestions_ready(snapshot)

    async def _compute(self, uri: str, version: int, text: str, line: int) -> SuggestionSet:
        lines = split_lines(text)
        point = find_suggestion_point(lines, line)
        if point is None:
            return SuggestionSet(uri, version, None, note="not a tactic position")
        session = await self._session_for(uri)
        if not isinstance(session, ProjectSession):
            return SuggestionSet(uri, version, point, note=session, failed=True)
        timings: dict[str, float] = {}
        started = time.perf_counter()
        latest = SuggestionSet(uri, version, point)
        rejected: list[tuple[Candidate, str]] = []
        try:
            async with asyncio.timeout(self.settings.suggest_budget_s):
                state, point = await goal_for_point(session.verifier, uri, lines, point)
                timings["goal"] = ms_since(started)
                if state is None or state.closed:
                    return SuggestionSet(
                        uri, version, point, note="Lean reports no open goal here", timings_ms=timings
                    )
                goals = state.goals
                latest = SuggestionSet(uri, version, point)  # the point as Lean placed the goal
                request = self._request_for(lines, point, goals)
                environment = environment_digest(lines, point)

                async def check(candidate: Candidate) -> list[Outcome]:
                    return await verify_candidates(
                        session.verifier, environment, lines, point, goals, [candidate], request.theorem_name
                    )

                def step(growth: Growth) -> None:
                    nonlocal latest
                    latest = snapshot(
                        latest, goals, growth, rejected, timings, started, self.settings.max_suggestions
                    )
                    self._grew((uri, version, line), latest)

                mark = time.perf_counter()
                growth = await grow(
                    self.sources.runs(request, timings), check, request.theorem_name, rejected, step
                )
                note_verifier_health(self._notices, session.project.root, session.verifier)
        except TimeoutError:
            waiting = f" (waiting for {', '.join(latest.pending)})" if latest.pending else ""
            note = "suggestion budget exceeded" + waiting
            return replace(latest, note=note, timings_ms=timings, failed=True)
        except LeanError as err:
            log.warning("suggestion failed: %s", err)
            return SuggestionSet(uri, version, point, note=f"Lean: {err}", timings_ms=timings, failed=True)
        generated_ms = max(growth.answered_ms.values(), default=0.0)
        timings.update(growth.answered_ms, generate=generated_ms, verify=ms_since(mark) - generated_ms)
        result = snapshot(latest, goals, growth, rejected, timings, started, self.settings.max_suggestions)
        note = suggestion_note(
            kept=len(result.suggestions), checked=growth.candidates, filtered=len(rejected),
            prefix=point.prefix, model=self.model.config.model if self.model else None,
            model_problem=self._notices.told("model"),
        )  # fmt: skip
        result = replace(result, note=note)
        log.info(
            "suggest %s:%d v%d: %d/%d verified %s",
            uri, line, version, len(result.suggestions), growth.candidates,
            {k: round(v) for k, v in timings.items()},
        )  # fmt: skip
        return result

    # --- Lean sessions -------------------------------------------------------------------------

    async def _session_for(self, uri: str) -> ProjectSession | str:
        """The project's session with its Lean server running, or why there is none (at once while
        the server's restart back-off lasts, `processes/restarts.py`)."""
        project = project_of(uri, self.settings.project_root)
        if project is None:
            return "no Lean server for this file"
        session = self._sessions.get(project.root)
        if session is None:
            command = project.server_command(self.settings.lean_command)
            lean = LeanClient(project, command, self.settings.lean_start_timeout_s)
            documents, verifier = build_verifiers(self.settings, project.root, lean)
            session = ProjectSession(project, lean, verifier, documents)
            self._sessions[project.root] = session
            # A copy: other handlers open documents while this one waits for Lean to start.
            for other_uri in self.documents.uris():
                other = self.documents.get(other_uri)  # the newest text, or None once closed
                if (
                    other is not None
                    and other_uri != uri
                    and _project_root_key(other_uri, self.settings) == project.root
                ):
                    with contextlib.suppress(LeanError):
                        await lean.sync(other_uri, other.text)
        try:
            await session.lean.ensure_started()
        except LeanNotFound as err:
            self._notices.say_once(f"lean:{project.root}", "error", f"llmstep: {err}")
            return str(err)
        except (LeanError, OSError) as err:
            # One failure is retried quietly; a few in a row are told once, with Lean's stderr.
            if session.lean.gate.broken:
                self._notices.say_once(f"lean:{project.root}", "error", session.lean.broken_report())
            return f"the Lean server is not running: {str(err).splitlines()[0]}"
        return session

    async def shutdown(self) -> None:
        """Stop every Lean session (and its verifiers); sessions start again lazily on the next request."""
        self._forget_all()
        sessions, self._sessions = list(self._sessions.values()), {}
        for session in sessions:
            session.verifier.close()
        await asyncio.gather(*(s.lean.shutdown() for s in sessions), return_exceptions=True)

    def kill_all(self) -> None:
        """Last-resort cleanup at process exit: no Lean process outlives the sidecar."""
        for session in self._sessions.values():
            session.lean.kill()
            session.verifier.close()


def _session_settings(settings: Settings) -> object:
    """What a project session is built from: a change restarts the sessions."""
    return (
        settings.lean_command,
        settings.project_root,
        settings.verify_concurrency,
        settings.verifier,
        settings.repl_command,
        settings.repl_pool_size,
    )


def _generation_of(settings: Settings) -> object:
    try:
        return settings.generation()
    except PresetError as err:
        return err.args


def _project_root_key(uri: str, settings: Settings) -> Path | None:
    project = project_of(uri, settings.project_root)
    return project.root if project else None


def _log_task_failure(task: asyncio.Task[None]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.error("background task failed", exc_info=task.exception())
