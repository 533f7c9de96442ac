"""JSON-RPC over the stdio of a Lean server child process.

Responsibilities, and nothing else:
- spawn the child in its own process group (`processes/children.py`: so shutdown can kill `lake serve` *and*
  the `lean --server` / `lean --worker` processes under it) and keep a bounded tail of its stderr;
- frame messages (`Content-Length`), classify incoming ones by the presence of `method` — the
  server's own request ids can equal ours — and answer server requests (`result: null`);
- give every request a deadline; on timeout *and* on task cancellation send `$/cancelRequest`;
- fail ALL pending requests with `LeanServerDied` when the child dies or its stream breaks (in a
  `finally`, so a malformed message can never wedge a caller).
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import itertools
import json
import logging
from collections.abc import Callable, Sequence
from typing import Any

from jsonrpcclient import Error, Ok, notification, parse, request

from llmstep_lsp.lean.errors import LeanNotFound, LeanResponseError, LeanServerDied, LeanTimeout
from llmstep_lsp.processes.children import find_executable, kill_group, spawn

log = logging.getLogger(__name__)

NotificationHandler = Callable[[str, Any], None]
STDERR_TAIL_LINES = 50
MAX_MESSAGE_BYTES = 256 * 1024 * 1024


class LeanTransport:
    """One Lean server child and its JSON-RPC stream (JSON-RPC 2.0 framed as in LSP 3.17, "Base
    Protocol"). Lives once: after the child dies every call raises `LeanServerDied`; the owner
    (`LeanClient`) makes a new transport. `on_notification(method, params)` is called, in the event
    loop, for each server notification; its exceptions are logged, never raised."""

    def __init__(self, command: Sequence[str], cwd: str, on_notification: NotificationHandler) -> None:
        self.command = list(command)
        self.cwd = cwd
        self._on_notification = on_notification
        self._process: asyncio.subprocess.Process | None = None
        self._pending: dict[int, tuple[str, asyncio.Future[Any]]] = {}
        self._ids = itertools.count()
        self._stderr_tail: collections.deque[str] = collections.deque(maxlen=STDERR_TAIL_LINES)
        self._tasks: list[asyncio.Task[None]] = []
        self._write_lock = asyncio.Lock()
        self._dead: LeanServerDied | None = None
        self._closing = False

    @property
    def alive(self) -> bool:
        """Started, and neither dead nor its stream broken."""
        return self._process is not None and self._dead is None

    @property
    def death(self) -> LeanServerDied | None:
        """Why the server is dead (with its last stderr lines); None while it runs."""
        return self._dead

    @property
    def pid(self) -> int | None:
        """The child's pid (its process group's id too); None before `start`."""
        return self._process.pid if self._process else None

    @property
    def stderr_tail(self) -> str:
        """The child's last `STDERR_TAIL_LINES` stderr lines, newline-joined."""
        return "\n".join(self._stderr_tail)

    async def start(self) -> None:
        """Spawn the child in `cwd` in a process group of its own and start reading its output.
        Raises `LeanNotFound` when the command is not found, OSError when it cannot be run."""
        executable = find_executable(self.command[0], self.cwd)
        if executable is None:
            raise LeanNotFound(
                f"cannot start the Lean server: '{self.command[0]}' was not found on PATH. "
                "Install Lean with elan (https://lean-lang.org/install) or set 'leanCommand'."
            )
        try:
            self._process = await spawn(executable, self.command[1:], self.cwd, MAX_MESSAGE_BYTES)
        except FileNotFoundError as err:
            raise LeanNotFound(f"cannot start the Lean server: {err}") from err
        log.info(
            "started Lean server pid=%s: %s (cwd %s)", self._process.pid, " ".join(self.command), self.cwd
        )
        self._tasks = [
            asyncio.create_task(self._read_stdout(), name="lean-stdout"),
            asyncio.create_task(self._read_stderr(), name="lean-stderr"),
        ]

    async def request(self, method: str, params: Any, timeout: float) -> Any:
        """Send a request and await its result (`timeout` in seconds). Raises `LeanTimeout` (the
        request is then cancelled on the server with `$/cancelRequest`), `LeanResponseError`,
        `LeanServerDied`."""
        if self._dead:
            raise self._dead
        request_id = next(self._ids)
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._pending[request_id] = (method, future)
        try:
            await self._send(request(method, params=params, id=request_id))
            return await asyncio.wait_for(asyncio.shield(future), timeout)
        except TimeoutError:
            await self._cancel_on_server(request_id)
            raise LeanTimeout(f"{method}: no answer from Lean within {timeout:g} s") from None
        except asyncio.CancelledError:
            await self._cancel_on_server(request_id)
            raise
        finally:
            self._pending.pop(request_id, None)

    async def notify(self, method: str, params: Any) -> None:
        """Send a notification; raises `LeanServerDied` when the child is gone."""
        if self._dead:
            raise self._dead
        await self._send(notification(method, params=params))

    async def close(self, grace_s: float = 2.0) -> None:
        """Ask the server to shut down, then make sure the whole process group is gone."""
        process = self._process
        if process is None:
            return
        self._closing = True
        if self.alive:
            with contextlib.suppress(Exception):
                await self.request("shutdown", None, timeout=grace_s)
                await self.notify("exit", None)
        with contextlib.suppress(Exception):
            if process.stdin:
                process.stdin.close()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(process.wait(), grace_s)
        self.kill()
        await process.wait()
        for task in self._tasks:
            task.cancel()
        self._fail_pending(LeanServerDied("Lean server was shut down"))

    def kill(self) -> None:
        """Kill the child's whole process group (no orphan `lean --worker` survives)."""
        if self._process is not None:
            kill_group(self._process.pid)

    async def _send(self, message: dict[str, Any]) -> None:
        assert self._process is not None and self._process.stdin is not None
        # A lone UTF-16 surrogate (editors allow them) cannot be UTF-8: it becomes '?', one UTF-16
        # unit like the surrogate, so every column Lean reports still lines up.
        body = json.dumps(message, ensure_ascii=False, separators=(",", ":")).encode(errors="replace")
        async with self._write_lock:
            try:
                self._process.stdin.write(b"Content-Length: %d\r\n\r\n" % len(body) + body)
                await self._process.stdin.drain()
            except (ConnectionError, RuntimeError) as err:
                await self._stderr_read_to_end()
                self._mark_dead(f"cannot write to the Lean server: {err}")
                assert self._dead is not None
                raise self._dead from err

    async def _cancel_on_server(self, request_id: int) -> None:
        if self.alive:
            with contextlib.suppress(Exception):
                await self._send(notification("$/cancelRequest", params={"id": request_id}))

    async def _read_stdout(self) -> None:
        assert self._process is not None and self._process.stdout is not None
        reader = self._process.stdout
        reason = "Lean server closed its output"
        try:
            while True:
                message = await _read_message(reader)
                if message is None:
                    break
                await self._dispatch(message)
        except (ValueError, json.JSONDecodeError, asyncio.IncompleteReadError) as err:
            reason = f"unreadable message from the Lean server: {err}"
        except LeanServerDied:
            pass  # answering one of its requests failed: `_send` already recorded why
        finally:
            returncode = None
            with contextlib.suppress(TimeoutError):
                returncode = await asyncio.wait_for(self._process.wait(), 1.0)
            await self._stderr_read_to_end()
            self._mark_dead(f"{reason} (exit code {returncode})")

    async def _dispatch(self, message: dict[str, Any]) -> None:
        method = message.get("method")
        if method is not None and "id" in message:
            # A server request (client/registerCapability, workspace/inlayHint/refresh, …): we
            # have none of these features, and null is the answer each of them expects.
            await self._send({"jsonrpc": "2.0", "id": message["id"], "result": None})
        elif method is not None:
            try:
                self._on_notification(method, message.get("params"))
            except Exception:
                log.exception("error handling Lean notification %s", method)
        else:
            response = parse(message)
            assert isinstance(response, Ok | Error)
            pending = self._pending.get(response.id) if isinstance(response.id, int) else None
            if pending is None or pending[1].done():
                return  # answer to a request that timed out or was cancelled
            request_method, future = pending
            if isinstance(response, Error):
                future.set_exception(LeanResponseError(request_method, response.code, response.message))
            else:
                future.set_result(response.result)

    async def _stderr_read_to_end(self, timeout_s: float = 1.0) -> None:
        """Until the dying child's stderr is read to its end, at most `timeout_s` seconds: its last
        lines usually say why it died, and the error we report quotes them."""
        readers = [task for task in self._tasks if task.get_name() == "lean-stderr" and not task.done()]
        if readers and readers[0] is not asyncio.current_task():
            await asyncio.wait(readers, timeout=timeout_s)  # neither raises nor cancels the reader

    async def _read_stderr(self) -> None:
        assert self._process is not None and self._process.stderr is not None
        async for raw in self._process.stderr:
            line = raw.decode(errors="replace").rstrip()
            self._stderr_tail.append(line)
            log.debug("lean stderr: %s", line)

    def _mark_dead(self, reason: str) -> None:
        if self._dead is None:
            self._dead = LeanServerDied(reason, self.stderr_tail)
            log.log(logging.INFO if self._closing else logging.WARNING, "%s", self._dead)
            self.kill()  # what is left of its group (workers of a crashed watchdog) is of no use
        self._fail_pending(self._dead)

    def _fail_pending(self, error: Exception) -> None:
        for _, future in self._pending.values():
            if not future.done():
                future.set_exception(error)
        self._pending.clear()


async def _read_message(reader: asyncio.StreamReader) -> dict[str, Any] | None:
    """One framed message, or None at a clean end of stream."""
    length: int | None = None
    while True:
        line = await reader.readline()
        if not line:
            return None
        if line in (b"\r\n", b"\n"):
            break
        name, sep, value = line.decode("ascii").partition(":")
        if not sep:
            raise ValueError(f"malformed header line {line!r}")
        if name.strip().lower() == "content-length":
            length = int(value.strip())
    if length is None or length > MAX_MESSAGE_BYTES:
        raise ValueError(f"bad Content-Length {length}")
    body = await reader.readexactly(length)
    message = json.loads(body)
    if not isinstance(message, dict):
        raise ValueError("message is not a JSON object")
    return message
