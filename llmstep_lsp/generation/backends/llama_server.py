"""A llama.cpp server the sidecar runs itself (`backend: "llama.cpp"`): one process per GGUF file, on
a free loopback port, started on first use and restarted when it dies.

- Started like the Lean server: under a guardian (`children.spawn`), so killing the sidecar, even
  with SIGKILL, takes the server with it, and every exit path kills its process group.
- Ready when its health URL answers 200 (llama-server's `/health` answers 503 while the model loads):
  polled, as an HTTP server's readiness has no event to wait on; a process that exits meanwhile ends
  the wait at once, with its last output lines.
- Restarts go through a `RestartGate` (`processes/restarts.py`): a crash restarts at once, repeated failures
  back off (1 s, 2 s, … 60 s) and are reported with what the server printed.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
import socket
import time
from pathlib import Path

import httpx

from llmstep_lsp.generation.backends.llama_launch import Launcher
from llmstep_lsp.generation.base import ModelUnavailable
from llmstep_lsp.processes.children import kill_group, spawn
from llmstep_lsp.processes.restarts import RestartGate

log = logging.getLogger(__name__)

OUTPUT_TAIL_LINES = 40
REPORTED_LINES = 8
HEALTH_POLL_S = 0.25
LINE_LIMIT = 1 << 20
LOAD_TIMEOUT_S = 600.0
"""Longest one start may take, loading included (a multi-GB GGUF from a slow disk)."""


class ManagedServer:
    """One llama.cpp server process for `model`: `ensure_running` starts it (or restarts it after a
    death), `stop` ends it. `start_timeout_s` bounds one start, loading included."""

    def __init__(
        self,
        launcher: Launcher,
        model: Path,
        slots: int,
        slot_tokens: int,
        start_timeout_s: float = LOAD_TIMEOUT_S,
    ) -> None:
        self.launcher = launcher
        self.model = model
        self.slots = slots
        self.slot_tokens = slot_tokens
        self.start_timeout_s = start_timeout_s
        self.gate = RestartGate(f"the llama.cpp server for {model.name}")
        self.endpoint: str | None = None
        """`http://127.0.0.1:PORT/v1` while the server runs."""
        self._process: asyncio.subprocess.Process | None = None
        self._output: collections.deque[str] = collections.deque(maxlen=OUTPUT_TAIL_LINES)
        self._readers: list[asyncio.Task[None]] = []
        self._lock = asyncio.Lock()

    @property
    def pid(self) -> int | None:
        """The guardian's pid (the process group's id) while a server was started and not stopped."""
        return self._process.pid if self._process is not None else None

    @property
    def alive(self) -> bool:
        """Started, and not exited since."""
        return self._process is not None and self._process.returncode is None

    @property
    def output_tail(self) -> str:
        """The server's last output lines (stdout and stderr)."""
        return "\n".join(self._output)

    async def ensure_running(self) -> str:
        """The endpoint of a running, loaded server: started now if it is not running. Raises
        `ModelUnavailable` while the restart back-off lasts, or with the reason a start failed."""
        async with self._lock:
            if self.alive and self.endpoint is not None:
                return self.endpoint
            if self._process is not None:  # it died (or a cancelled caller left its start unfinished)
                self.gate.exited(f"it exited with code {self._process.returncode}{self._tail_block()}")
                await self._forget()
            if (reason := self.gate.wait_reason()) is not None:
                raise ModelUnavailable(" ".join(filter(None, [f"{reason}.", self.broken_report()])))
            try:
                self.endpoint = await self._start()
            except ModelUnavailable as err:
                self.gate.start_failed(str(err))
                await self._forget()
                raise
            self.gate.started()
            return self.endpoint

    async def died(self, within_s: float) -> bool:
        """Whether the server exited, waiting up to `within_s` for its exit to be seen (a request
        that lost its connection learns here whether the server crashed)."""
        process = self._process
        if process is None:
            return False
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.shield(process.wait()), within_s)
        return process.returncode is not None

    def broken_report(self) -> str:
        """After repeated failures: the last one, with the server's own last lines ('' before)."""
        if not self.gate.broken:
            return ""
        lines = self.gate.last_error.splitlines() or ["unknown"]
        fix = f"Fix: run `llmstep-lsp doctor FILE --backend llama.cpp --model {self.model}`."
        return "\n".join([f"Last failure: {lines[0]}", *lines[1:][-REPORTED_LINES:], fix])

    async def stop(self) -> None:
        """Kill the server's whole process group and wait for it (nothing is left behind)."""
        async with self._lock:
            await self._forget()

    async def _start(self) -> str:
        port = _free_port()
        command = self.launcher.command(self.model, port, self.slots, self.slot_tokens, self.model.stem)
        self._output.clear()
        try:
            process = await spawn(command[0], command[1:], str(self.model.parent), LINE_LIMIT)
        except OSError as err:
            raise ModelUnavailable(f"cannot start {command[0]}: {err}") from err
        self._process = process
        self._readers = [
            asyncio.create_task(self._read(stream, process.pid), name="llama-server-output")
            for stream in (process.stdout, process.stderr)
            if stream is not None
        ]
        log.info("started the llama.cpp server (group %d): %s", process.pid, " ".join(command))
        started = time.monotonic()
        await self._wait_healthy(process, f"http://127.0.0.1:{port}")
        log.info("the llama.cpp server is ready after %.1f s", time.monotonic() - started)
        return f"http://127.0.0.1:{port}/v1"

    async def _wait_healthy(self, process: asyncio.subprocess.Process, base: str) -> None:
        exited = asyncio.create_task(process.wait())
        try:
            async with asyncio.timeout(self.start_timeout_s), httpx.AsyncClient(timeout=5) as client:
                while not exited.done():
                    with contextlib.suppress(httpx.HTTPError):
                        if (await client.get(base + self.launcher.health_path)).status_code == 200:
                            return
                    await asyncio.wait({exited}, timeout=HEALTH_POLL_S)
        except TimeoutError:
            raise ModelUnavailable(
                f"the llama.cpp server did not load {self.model.name} within {self.start_timeout_s:g} s "
                f"{self._tail_block()}"
            ) from None
        finally:
            exited.cancel()
        await asyncio.gather(*self._readers, return_exceptions=True)  # its last words
        raise ModelUnavailable(
            f"the llama.cpp server exited with code {process.returncode} while loading "
            f"{self.model.name}{self._tail_block()}"
        )

    async def _read(self, stream: asyncio.StreamReader, group: int) -> None:
        with contextlib.suppress(ValueError, ConnectionError):  # a line over the limit; a closed pipe
            async for raw in stream:
                line = raw.decode(errors="replace").rstrip()
                self._output.append(line)
                log.debug("llama.cpp server %d: %s", group, line)

    async def _forget(self) -> None:
        process, self._process, self.endpoint = self._process, None, None
        if process is None:
            return
        kill_group(process.pid)
        await process.wait()
        for reader in self._readers:
            reader.cancel()
        await asyncio.gather(*self._readers, return_exceptions=True)
        self._readers = []

    def _tail_block(self) -> str:
        tail = self.output_tail
        return f"\n--- llama.cpp server output (last lines) ---\n{tail}" if tail else ""


def _free_port() -> int:
    """A loopback port nobody listens on now (the OS picks it)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])
