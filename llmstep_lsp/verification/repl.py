"""The optional second verifier: leanprover-community/repl in tactic mode, on a pool keyed by header.

Design (kimina-lean-server's pool, lean-lsp-mcp's tactic mode; reference §10): each REPL process
loads one import header once (`{"cmd": imports}` → env 0). For a suggestion point it then runs the
file between the imports and the declaration (`{"cmd", "env": 0}`, cached per process), and the
declaration up to the point with `sorry` in the point's place; that `sorry` gives a `proofState`.
Every candidate is then one `{"tactic": t, "proofState": n}`: no re-elaboration of the file, the
declaration, or the imports. A process answers one input at a time, so each check leases a whole
process; one that hangs past the deadline or dies is killed and replaced by a fresh one.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import logging
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from typing import Any

from cachetools import LRUCache

from llmstep_lsp.lean.client import GoalState
from llmstep_lsp.processes.children import find_executable, kill_group, spawn
from llmstep_lsp.processes.restarts import RestartGate
from llmstep_lsp.text.suggestion_point import SuggestionPoint
from llmstep_lsp.verification.lean_search import is_search_tactic
from llmstep_lsp.verification.repl_verdicts import verdict_of
from llmstep_lsp.verification.verifier import CheckResult, Verdict, VerdictCache, Verifier, confirmed

log = logging.getLogger(__name__)

MAX_HEADERS = 4
"""Headers with live processes at once; the least recently used one's processes are stopped."""
STATES_PER_PROCESS = 64
"""Cached environments / proof states per process (ids are cheap, but each holds a Lean state)."""
MAX_ANSWER_BYTES = 256 * 1024 * 1024


class ReplError(Exception):
    """The REPL process could not be started, died, or answered something unusable."""


@dataclass(frozen=True)
class ReplProbe:
    """What the REPL is asked for one suggestion point."""

    header: str
    """The leading `import` lines: the pool key."""
    context: str
    """Everything between the imports and the declaration (`open`s, earlier lemmas)."""
    declaration: str
    """The declaration up to the point, `sorry` in the point's place, the rest of the proof dropped."""


def repl_probe(lines: list[str], point: SuggestionPoint) -> ReplProbe | None:
    """The REPL inputs for `point` in `lines`; None outside any declaration."""
    declaration = point.declaration
    if declaration is None:
        return None
    header_end = _header_end(lines)
    header = "\n".join(line.strip() for line in lines[:header_end] if line.strip().startswith("import"))
    return ReplProbe(
        header=header,
        context="\n".join(lines[header_end : declaration.start_line]),
        declaration="\n".join([*lines[declaration.start_line : point.line], point.line_with("sorry")]),
    )


def _header_end(lines: list[str]) -> int:
    """Index of the first line after the imports (blank lines and comments before them included)."""
    end = index = 0
    in_comment = False
    while index < len(lines):
        text = lines[index].strip()
        if in_comment:
            in_comment = "-/" not in text
        elif text.startswith("/-"):
            in_comment = "-/" not in text[2:]
        elif text.startswith("import "):
            end = index + 1
        elif text and not text.startswith("--"):
            break
        index += 1
    return end


class ReplProcess:
    """One REPL child with one header loaded; one input at a time (the caller holds the lease)."""

    def __init__(self, process: asyncio.subprocess.Process, header: str) -> None:
        self._process = process
        self.header = header
        self.header_env = 0
        self._envs: LRUCache[str, int] = LRUCache(STATES_PER_PROCESS)
        self._states: LRUCache[tuple[str, str], int] = LRUCache(STATES_PER_PROCESS)
        self._broken = False  # its output ended or made no sense: never lease it again
        self._owed = 0  # answers to inputs whose reader was cancelled
        self._partial: list[bytes] = []
        self._stderr = asyncio.create_task(self._drain_stderr())

    @classmethod
    async def start(cls, command: Sequence[str], cwd: str, header: str) -> ReplProcess:
        """Spawn the REPL and load `header`. Raises ReplError (not found, or no `env` answered), OSError."""
        executable = find_executable(command[0], cwd)
        if executable is None:
            raise ReplError(f"cannot start the REPL: '{command[0]}' was not found (setting 'replCommand')")
        process = await spawn(executable, command[1:], cwd, MAX_ANSWER_BYTES)
        repl = cls(process, header)
        log.info("started REPL pid=%s for header %r", process.pid, header)
        try:
            answer = await repl.request({"cmd": header})
        except BaseException:
            repl.kill()
            raise
        if "env" not in answer:
            repl.kill()
            raise ReplError(f"the REPL did not load the imports: {answer.get('message', answer)}")
        repl.header_env = int(answer["env"])
        return repl

    @property
    def alive(self) -> bool:
        """Running, and its output still makes sense (else it is never leased again)."""
        # returncode is set only once the exit is reaped, which can lag behind the closed output.
        return not self._broken and self._process.returncode is None

    @property
    def pid(self) -> int:
        """The child's pid (its process group's id too)."""
        return self._process.pid

    async def request(self, payload: dict[str, Any]) -> dict[str, Any]:
        """Send one input and read its answer: pretty-printed JSON up to a blank line.

        Cancelled (an edit made the suggestion obsolete), the answer stays owed and is read and
        dropped before the next input, so the process and its loaded header are kept. Any other
        failure leaves the stream unusable: the process is killed.
        """
        stdin = self._process.stdin
        assert stdin is not None
        try:
            while self._owed:
                await self._read_answer()
                self._owed -= 1
            stdin.write((json.dumps(payload, ensure_ascii=False) + "\n\n").encode())
            self._owed += 1
            await stdin.drain()
            answer = await self._read_answer()
            self._owed -= 1
            return answer
        except asyncio.CancelledError:
            raise
        except (ConnectionError, OSError) as err:
            self.kill()
            raise ReplError(f"the REPL (pid {self.pid}) exited: {err}") from err
        except BaseException:
            self.kill()
            raise

    async def _read_answer(self) -> dict[str, Any]:
        stdout = self._process.stdout
        assert stdout is not None
        while True:  # lines read so far survive a cancellation in `_partial`
            line = await stdout.readline()
            if not line:
                raise ReplError(f"the REPL (pid {self.pid}) exited")
            if line.strip():
                self._partial.append(line)
            elif self._partial:
                break
        text, self._partial = b"".join(self._partial), []
        try:
            answer = json.loads(text)
        except ValueError as err:
            raise ReplError(f"the REPL answered something that is not JSON: {err}") from err
        if not isinstance(answer, dict):
            raise ReplError(f"the REPL answered {answer!r}")
        return answer

    async def proof_state(self, probe: ReplProbe) -> int | None:
        """The proof state at the probe's `sorry` (cached; None: the REPL reports no such `sorry`)."""
        context_key = hashlib.sha256(probe.context.encode()).hexdigest()
        key = (context_key, probe.declaration)
        if (state := self._states.get(key)) is not None:
            return state
        env = self._envs.get(context_key)
        if env is None:
            answer = await self.request({"cmd": probe.context, "env": self.header_env})
            if "env" not in answer:
                raise ReplError(f"the REPL rejected the file's context: {answer.get('message', answer)}")
            env = self._envs[context_key] = int(answer["env"])
        answer = await self.request({"cmd": probe.declaration, "env": env})
        sorries = answer.get("sorries") or []
        if not sorries:
            return None
        # The point's `sorry` is the declaration's last one (earlier lines may hold others).
        state = self._states[key] = int(sorries[-1]["proofState"])
        return state

    async def stop(self) -> None:
        """Kill it and wait for its exit (for callers whose event loop ends soon after)."""
        self.kill()
        await self._process.wait()

    def kill(self) -> None:
        """Kill its whole process group (`processes/children.py`); it is never leased again."""
        self._broken = True
        kill_group(self._process.pid)
        self._stderr.cancel()

    async def _drain_stderr(self) -> None:
        stderr = self._process.stderr
        assert stderr is not None
        while line := await stderr.readline():
            log.debug("repl %s: %s", self.pid, line.decode(errors="replace").rstrip())


class _HeaderSlots(LRUCache[str, "asyncio.Queue[ReplProcess | None]"]):
    """Free REPL slots per import header, at most `MAX_HEADERS` headers: the least recently used
    header's processes are killed when a new header needs room (each holds a loaded environment)."""

    def popitem(self) -> tuple[str, asyncio.Queue[ReplProcess | None]]:
        header, evicted = super().popitem()
        while not evicted.empty():
            if (old := evicted.get_nowait()) is not None:
                old.kill()
        return header, evicted


class ReplPool:
    """`size` REPL processes per import header, started on first use, replaced when they die."""

    def __init__(self, command: Sequence[str], cwd: str, size: int, start_timeout_s: float) -> None:
        self.command = list(command)
        self.cwd = cwd
        self.size = size
        self.start_timeout_s = start_timeout_s
        # header -> free slots; None is a slot whose process is not (or no longer) running.
        self._slots = _HeaderSlots(MAX_HEADERS)
        self._started: list[ReplProcess] = []
        self._starting: set[asyncio.Task[ReplProcess]] = set()
        # Restarts with memory (processes/restarts.py) for starts: a process that cannot start or load its
        # header. A process that dies later is replaced at once: a candidate can crash Lean.
        self.gate = RestartGate(f"the REPL ({' '.join(self.command)})")

    def processes(self) -> list[ReplProcess]:
        """Every live process (free or leased)."""
        self._started = [p for p in self._started if p.alive]
        return list(self._started)

    @contextlib.asynccontextmanager
    async def lease(self, header: str) -> AsyncIterator[ReplProcess]:
        """A process for `header`, exclusively, until the block ends (waits for a free slot)."""
        slots = self._slots_for(header)
        process = await slots.get()
        if process is None or not process.alive:
            process = await self._start(header, slots)
        try:
            yield process
        finally:
            if self._slots.get(header) is slots and process.alive:
                slots.put_nowait(process)
            else:  # dead, killed after a timeout, or its header was evicted meanwhile
                process.kill()
                slots.put_nowait(None)

    async def _start(self, header: str, slots: asyncio.Queue[ReplProcess | None]) -> ReplProcess:
        """A fresh process for the slot taken from `slots`. If the check that needed it is cancelled
        (an edit), loading goes on and the process fills the slot: with Mathlib the header takes
        seconds, and edits while typing would otherwise restart it again and again.
        Raises ReplError at once while the gate's back-off lasts."""
        if (reason := self.gate.wait_reason()) is not None:
            slots.put_nowait(None)
            raise ReplError(reason)
        task = asyncio.create_task(ReplProcess.start(self.command, self.cwd, header))
        self._starting.add(task)
        task.add_done_callback(self._starting.discard)
        try:
            async with asyncio.timeout(self.start_timeout_s):
                process = await asyncio.shield(task)
        except asyncio.CancelledError:
            task.add_done_callback(lambda done: slots.put_nowait(self._started_from(done)))
            raise
        except BaseException as err:
            task.cancel()
            slots.put_nowait(None)
            if isinstance(err, ReplError | OSError | TimeoutError):
                self.gate.start_failed(str(err) or f"no answer within {self.start_timeout_s:g} s")
            raise
        self._started.append(process)
        self._start_succeeded()
        return process

    def _start_succeeded(self) -> None:
        self.gate.reset()  # it starts: a failure spell (if any) is over

    def _started_from(self, task: asyncio.Task[ReplProcess]) -> ReplProcess | None:
        if task.cancelled():
            return None
        if (error := task.exception()) is not None:
            self.gate.start_failed(str(error))
            return None
        process = task.result()
        self._started.append(process)
        self._start_succeeded()
        return process

    def _slots_for(self, header: str) -> asyncio.Queue[ReplProcess | None]:
        slots = self._slots.get(header)
        if slots is None:
            slots = self._slots[header] = asyncio.Queue()
            for _ in range(self.size):
                slots.put_nowait(None)
        return slots

    def close(self) -> None:
        """Cancel starts in progress and kill every process."""
        for task in list(self._starting):
            task.cancel()
        for process in self.processes():
            process.kill()
        self._slots.clear()


class ReplVerifier(VerdictCache):
    """Candidates checked by the REPL; the goal at the cursor still comes from the Lean server.

    The Lean server already mirrors the user's file, reports every goal at the point (a tactic
    `sorry` gives the REPL a proof state for the main goal only) and is what the editor shows.
    """

    def __init__(self, goals: Verifier, pool: ReplPool, verify_timeout_s: float) -> None:
        super().__init__()
        self._goals = goals
        self.pool = pool
        self.verify_timeout_s = verify_timeout_s

    async def goal_at(self, uri: str, lines: list[str], point: SuggestionPoint) -> GoalState | None:
        """The Lean server's goals at the point (`Verifier.goal_at`: all goals, main first)."""
        return await self._goals.goal_at(uri, lines, point)

    async def check(
        self, lines: list[str], point: SuggestionPoint, goals: tuple[str, ...], tactic: str
    ) -> CheckResult:
        """The REPL's verdict. Its proof state holds the main goal only, so the other `goals` (as
        the caller got them from the Lean server: at the cursor, or after a search path) still count
        when deciding whether the candidate closes everything."""
        probe = repl_probe(lines, point)
        if probe is None:
            return CheckResult(tactic, Verdict.UNKNOWN, error="no enclosing declaration for the REPL")
        try:
            async with self.pool.lease(probe.header) as process:  # waiting for a lease is not timed
                deadline = self.pool.start_timeout_s
                try:
                    # Elaborating the file's context is like opening the file: the start deadline.
                    async with asyncio.timeout(deadline):
                        state = await process.proof_state(probe)
                    if state is None:
                        error = "the REPL reports no proof state at the point"
                        return CheckResult(tactic, Verdict.UNKNOWN, error=error)
                    deadline = self.verify_timeout_s
                    async with asyncio.timeout(deadline):
                        answer = await process.request({"tactic": tactic + point.tail, "proofState": state})
                except TimeoutError:
                    process.kill()  # it answers one input at a time: a hung process is useless
                    error = f"no verdict within {deadline:g} s"
                    return CheckResult(tactic, Verdict.UNKNOWN, error=error, timed_out=True)
        except (ReplError, OSError, TimeoutError) as err:
            log.info("no REPL verdict for %r: %s", tactic, err)
            return CheckResult(tactic, Verdict.UNKNOWN, error=str(err))
        result = verdict_of(tactic, answer, goals[1:])
        if result.verdict is not Verdict.CLOSES or is_search_tactic(tactic):  # "Completed" sees the
            return result  # proof term only; `#print axioms` also sees lemmas proved by sorry
        return confirmed(result, await self._goals.sorry_check(lines, point, tactic))

    def problem(self) -> str | None:
        """What to tell the user while the REPL cannot be started (a few failures in a row)."""
        gate = self.pool.gate
        if not gate.broken:
            return None
        why = gate.last_error.partition("\n")[0]
        return (
            f"llmstep: {gate.what} failed to start {gate.failures} times in a row: {why}\nFix: run "
            "`llmstep-lsp doctor` (it checks 'replCommand'), or set 'verifier' to \"lean-server\"."
        )

    def close(self) -> None:
        """Stop every REPL process."""
        self.pool.close()
