"""Our own Lean server: lifecycle, mirrored documents with monotonic versions, and queries.

Queries are made against a (uri, version) the caller synced. A retryable answer (ContentModified,
RequestCancelled, a crashed worker) is retried after re-syncing while the text is still the one
the caller asked about; a dead or repeatedly hung server is restarted and every open document is
reopened, so callers see one logical, long-lived server.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from llmstep_lsp.lean.errors import (
    CONTENT_MODIFIED,
    LeanError,
    LeanResponseError,
    LeanServerDied,
    LeanTimeout,
    LeanUnavailable,
)
from llmstep_lsp.lean.project import PROJECT_MARKERS, LeanProject
from llmstep_lsp.lean.transport import LeanTransport
from llmstep_lsp.processes.restarts import RestartGate

log = logging.getLogger(__name__)
T = TypeVar("T")

MAX_ATTEMPTS = 3
REPORTED_STDERR_LINES = 12
# Goal reads that time out this many times in a row mean the server is hung, not slow.
HUNG_AFTER_TIMEOUTS = 2


@dataclass(frozen=True)
class LeanDiagnostic:
    """A Lean diagnostic; positions are (line, UTF-16 column) as on the wire."""

    severity: int
    message: str
    start: tuple[int, int]
    full_start: tuple[int, int]
    full_end: tuple[int, int]
    lean_tags: tuple[int, ...] = ()

    @property
    def is_error(self) -> bool:
        """Severity 1 (LSP `DiagnosticSeverity.Error`); 2 warning, 3 information."""
        return self.severity == 1

    @classmethod
    def from_json(cls, raw: dict[str, Any]) -> LeanDiagnostic:
        """Read one entry of `textDocument/publishDiagnostics` (LSP 3.17 `Diagnostic` plus Lean's
        `fullRange` and `leanTags`, `Lean.Lsp.Diagnostics`). `start` is `range.start`; `full_*` come
        from `fullRange` (the real span: Lean truncates `range` of multi-line messages), else
        `range`. A missing severity counts as an error. Raises KeyError / TypeError / ValueError on
        an entry without a readable `range`."""
        full = raw.get("fullRange") or raw["range"]
        return cls(
            severity=int(raw.get("severity", 1)),
            message=str(raw.get("message", "")),
            start=_pos(raw["range"]["start"]),
            full_start=_pos(full["start"]),
            full_end=_pos(full["end"]),
            lean_tags=tuple(raw.get("leanTags") or ()),
        )


@dataclass(frozen=True)
class GoalState:
    """The goals Lean reports at a tactic position; empty means the proof is finished there."""

    goals: tuple[str, ...]

    @property
    def closed(self) -> bool:
        """No goal left (`$/lean/plainGoal` answered `goals: []`, "no goals")."""
        return not self.goals


@dataclass
class _Document:
    text: str
    version: int  # what Lean knows this text under now (bumped by resends after crashes/restarts)
    text_version: int = 0  # the version at which this text was first sent: the caller's token
    diagnostics_version: int = -1
    diagnostics: list[LeanDiagnostic] = field(default_factory=list)
    processing: bool = True  # from $/lean/fileProgress: still elaborating this version
    worker_crashed: bool = False  # fileProgress kind 2: the worker is dead until the next didChange


class LeanClient:
    """One project's own Lean server (`lake serve` / `lean --server`), seen as one long-lived server.

    Documents are mirrored in full text (`sync`) under versions that only ever grow per URI, even
    across close/reopen and restarts. Queries (`plain_goal`, `diagnostics`) name the (uri, token)
    the caller synced and are retried (up to `MAX_ATTEMPTS`) on ContentModified, RequestCancelled
    and crashed workers while that text is still current; a stale token raises
    `LeanResponseError` (ContentModified) at once. A server that died is restarted on the next
    call, behind `gate` (`supervisor.RestartGate`: back-off, then `LeanUnavailable`); one whose
    goal requests time out `HUNG_AFTER_TIMEOUTS` times in a row is killed and restarted. Every
    failure is a `LeanError` (`lean/errors.py`). Protocol: the LSP 3.17 lifecycle plus Lean's
    extensions as in `Lean.Server.Watchdog` / `Lean.Server.FileWorker`
    (/work/shared/reference/lean-server-protocol.md §3-§8).
    """

    def __init__(
        self,
        project: LeanProject,
        command: list[str],
        start_timeout_s: float,
    ) -> None:
        self.project = project
        self.command = command
        self.start_timeout_s = start_timeout_s
        self.restarts = 0
        self.server_info: dict[str, Any] = {}
        self._transport: LeanTransport | None = None
        self._documents: dict[str, _Document] = {}
        self._last_version: dict[str, int] = {}  # survives close/reopen: versions stay monotonic
        self._start_lock = asyncio.Lock()
        self._goal_timeouts = 0
        # Restarts with memory: kept for this client's life, reset by edits of the project files.
        self.gate = RestartGate(
            f"the Lean server for {project.root}", watched=[project.root / m for m in PROJECT_MARKERS]
        )
        self._failed_stderr = ""  # the last failed start's stderr tail

    # --- lifecycle -----------------------------------------------------------------------------

    @property
    def pid(self) -> int | None:
        """The server process's pid (the process group's leader); None while none runs."""
        return self._transport.pid if self._transport else None

    async def ensure_started(self) -> None:
        """Start the server unless it runs. Raises `LeanUnavailable` at once while the restart
        back-off lasts (`processes/restarts.py`), else what the start raised (`LeanError`, `OSError`)."""
        async with self._start_lock:
            if self._transport is not None and self._transport.alive:
                return
            if self._transport is not None and self._transport.death is not None:
                self.gate.exited(str(self._transport.death))
            if (reason := self.gate.wait_reason()) is not None:
                raise LeanUnavailable(reason)
            try:
                await self._start_fresh()
            except (LeanError, OSError) as err:
                tail = self._failed_stderr
                detail = str(err)
                if tail and tail not in detail:
                    detail += f"\n--- Lean server stderr (last lines) ---\n{tail}"
                self.gate.start_failed(detail)
                raise
            self.gate.started()

    def broken_report(self) -> str:
        """What to tell the user once the server counts as broken: what it printed, and the fix."""
        lines = self.gate.last_error.splitlines()
        shown = "\n".join([lines[0], *lines[1:][-REPORTED_STDERR_LINES:]]) if lines else ""
        return (
            f"llmstep: the Lean server for {self.project.root} failed {self.gate.failures} times in a "
            f"row; it is retried less and less often. {shown}\nFix: run `llmstep-lsp doctor "
            f"{self.project.root}`; check lean-toolchain and the lakefile (editing them, or the "
            "settings, retries at once). Until then nothing can be suggested in this project."
        )

    async def restart(self) -> None:
        """Kill the server (e.g. hung) and start a fresh one with every document reopened."""
        async with self._start_lock:
            await self._start_fresh()

    async def _start_fresh(self) -> None:
        if self._transport is not None:
            self.restarts += 1
            log.warning("restarting the Lean server (restart #%d)", self.restarts)
            self._transport.kill()
            await self._transport.close(grace_s=0.5)
            self._transport = None
        await self._start()

    def kill(self) -> None:
        """Kill the server's whole process group now (workers included), without the LSP
        `shutdown`; the next call starts a fresh server. Never raises."""
        if self._transport is not None:
            self._transport.kill()

    async def shutdown(self) -> None:
        """LSP `shutdown` + `exit`, then kill what is left of the process group (2 s grace)."""
        if self._transport is not None:
            await self._transport.close()
            self._transport = None

    async def _start(self) -> None:
        transport = LeanTransport(self.command, str(self.project.root), self._on_notification)
        await transport.start()
        try:
            result = await transport.request(
                "initialize",
                {
                    "processId": None,
                    "rootUri": self.project.root.as_uri(),
                    "capabilities": {},
                    "initializationOptions": {"hasWidgets": False},
                },
                timeout=self.start_timeout_s,
            )
            await transport.notify("initialized", {})
        except BaseException:
            transport.kill()
            await transport.close(grace_s=0.2)
            self._failed_stderr = transport.stderr_tail
            raise
        self._transport = transport
        self.server_info = (result or {}).get("serverInfo") or {}
        log.info("Lean server ready: %s", self.server_info)
        for uri, document in self._documents.items():
            document.version = self._next_version(uri)
            await self._did_open(uri, document)

    # --- documents -----------------------------------------------------------------------------

    async def sync(self, uri: str, text: str) -> int:
        """Make Lean's copy of `uri` hold `text` (`didOpen`, else a full-text `didChange`); returns
        the token to query this text with. Raises what `ensure_started` raises."""
        await self.ensure_started()
        document = self._documents.get(uri)
        if document is None:
            version = self._next_version(uri)
            document = _Document(text, version, text_version=version)
            self._documents[uri] = document
            await self._did_open(uri, document)
        elif document.text != text:
            document.text = text
            await self._did_change(uri, document)
            document.text_version = document.version
        return document.text_version

    def mirrored(self, uri: str) -> tuple[str, int] | None:
        """The text Lean holds for `uri` and the token to query it with (None: not open in Lean).
        Nothing is sent: a caller that only reads never puts its own copy back into Lean."""
        document = self._documents.get(uri)
        return (document.text, document.text_version) if document else None

    async def close(self, uri: str) -> None:
        """Forget `uri` and send `didClose` (Lean then ends its worker). Its version counter is
        kept, so a reopened `uri` gets a higher version than any before."""
        document = self._documents.pop(uri, None)
        if document is not None and self._transport is not None and self._transport.alive:
            await self._transport.notify("textDocument/didClose", {"textDocument": {"uri": uri}})

    async def _did_open(self, uri: str, document: _Document) -> None:
        assert self._transport is not None
        await self._transport.notify(
            "textDocument/didOpen",
            {
                "textDocument": {
                    "uri": uri,
                    "languageId": "lean4",
                    "version": document.version,
                    "text": document.text,
                },
                # Never let our server rebuild the user's imports behind their back.
                "dependencyBuildMode": "never",
            },
        )

    async def _did_change(self, uri: str, document: _Document) -> None:
        assert self._transport is not None
        document.version = self._next_version(uri)
        document.processing, document.worker_crashed = True, False
        await self._transport.notify(
            "textDocument/didChange",
            {
                "textDocument": {"uri": uri, "version": document.version},
                "contentChanges": [{"text": document.text}],
            },
        )

    def _next_version(self, uri: str) -> int:
        version = self._last_version.get(uri, 0) + 1
        self._last_version[uri] = version
        return version

    # --- queries -------------------------------------------------------------------------------

    async def plain_goal(
        self, uri: str, version: int, line: int, character: int, timeout: float
    ) -> GoalState | None:
        """`$/lean/plainGoal` at (0-based line, UTF-16 column) of the synced `version`: None where
        Lean has no tactic state there. `timeout` in seconds per attempt. Raises `LeanTimeout`
        (after `HUNG_AFTER_TIMEOUTS` in a row the server is restarted first), `LeanResponseError`
        (ContentModified once `version` is stale), `LeanServerDied`, `LeanUnavailable`."""

        async def ask(transport: LeanTransport) -> GoalState | None:
            result = await transport.request(
                "$/lean/plainGoal",
                {"textDocument": {"uri": uri}, "position": {"line": line, "character": character}},
                timeout=timeout,
            )
            return None if result is None else GoalState(tuple(result.get("goals") or ()))

        try:
            state = await self._with_retries(uri, version, ask)
        except LeanTimeout:
            self._goal_timeouts += 1
            if self._goal_timeouts >= HUNG_AFTER_TIMEOUTS:
                log.warning(
                    "Lean answered no goal request %d times in a row: restarting it", self._goal_timeouts
                )
                self._goal_timeouts = 0
                await self.restart()
            raise
        self._goal_timeouts = 0
        return state

    async def diagnostics(self, uri: str, version: int, timeout: float) -> list[LeanDiagnostic]:
        """All diagnostics of the fully elaborated `version`: `textDocument/waitForDiagnostics`
        (`timeout` seconds per attempt), then the latest `publishDiagnostics` of that version.
        Raises like `plain_goal`."""

        async def ask(transport: LeanTransport) -> list[LeanDiagnostic]:
            current = self._documents[uri].version
            await transport.request(
                "textDocument/waitForDiagnostics", {"uri": uri, "version": current}, timeout=timeout
            )
            document = self._documents[uri]
            return list(document.diagnostics) if document.diagnostics_version == current else []

        return await self._with_retries(uri, version, ask)

    async def _with_retries(self, uri: str, version: int, ask: Callable[[LeanTransport], Awaitable[T]]) -> T:
        for attempt in range(1, MAX_ATTEMPTS + 1):
            await self.ensure_started()
            document = self._documents.get(uri)
            if document is None or document.text_version != version:
                # The text the caller asked about is gone: an answer now would be stale.
                raise LeanResponseError("query", CONTENT_MODIFIED, f"{uri} changed since version {version}")
            assert self._transport is not None
            if document.worker_crashed:
                await self._did_change(uri, document)  # a crashed worker only comes back on didChange
            try:
                answer = await ask(self._transport)
            except LeanServerDied:
                if attempt == MAX_ATTEMPTS:
                    raise
                log.warning("Lean server died during a request; restarting and asking again")
            except LeanResponseError as err:
                if not err.is_retryable or attempt == MAX_ATTEMPTS:
                    raise
                if err.worker_crashed and uri in self._documents:
                    # A crashed worker only comes back on the next didChange.
                    await self._did_change(uri, self._documents[uri])
                log.info("retrying after %s", err)
                await asyncio.sleep(0.05 * attempt)
            else:
                self.gate.answered()
                return answer
        raise AssertionError("unreachable")

    # --- notifications -------------------------------------------------------------------------

    def _on_notification(self, method: str, params: Any) -> None:
        if method == "textDocument/publishDiagnostics":
            document = self._documents.get(params["uri"])
            version = params.get("version")
            if document is None or version is None or version < document.version:
                return  # stale: belongs to a version we already replaced
            with contextlib.suppress(KeyError, TypeError, ValueError):
                diagnostics = [LeanDiagnostic.from_json(d) for d in params["diagnostics"]]
                if params.get("isIncremental") and version == document.diagnostics_version:
                    document.diagnostics.extend(diagnostics)
                else:
                    document.diagnostics = diagnostics
                document.diagnostics_version = version
        elif method == "$/lean/fileProgress":
            document = self._documents.get(params["textDocument"]["uri"])
            if document is None or params["textDocument"].get("version", document.version) < document.version:
                return
            processing = params.get("processing") or []
            document.processing = bool(processing)
            if any(item.get("kind") == 2 for item in processing):
                document.worker_crashed = True
                log.warning(
                    "Lean's worker for %s crashed; it restarts with the next edit",
                    params["textDocument"]["uri"],
                )


def _pos(raw: dict[str, Any]) -> tuple[int, int]:
    return int(raw["line"]), int(raw["character"])
