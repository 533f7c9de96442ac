"""A tiny async LSP client over raw stdio framing, for driving the fake Lean server in tests.

It keeps every raw frame, classifies incoming messages by the presence of ``method`` (server
request ids collide with ours, reference §2), answers server requests with ``result: null`` by
default, and hands out futures for our own requests.
"""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

SERVER = Path(__file__).with_name("server.py")


@dataclass
class Frame:
    header: bytes  # everything up to and including the blank line
    body: bytes
    msg: dict[str, Any]


class LeanWire:
    def __init__(self, proc: asyncio.subprocess.Process, auto_answer: bool = True) -> None:
        self.proc = proc
        self.auto_answer = auto_answer
        self.frames: list[Frame] = []
        self.messages: list[dict[str, Any]] = []  # everything received, in order
        self.stderr = b""
        self.next_id = 0
        self._futures: dict[str, asyncio.Future[dict[str, Any]]] = {}
        self._cond = asyncio.Condition()
        self._tasks = [asyncio.create_task(self._read()), asyncio.create_task(self._read_stderr())]

    @classmethod
    async def spawn(cls, script: Path, *knobs: str, auto_answer: bool = True) -> LeanWire:
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            str(SERVER),
            "--script",
            str(script),
            *knobs,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        return cls(proc, auto_answer)

    # -- reading --------------------------------------------------------------------------------
    async def _read(self) -> None:
        assert self.proc.stdout is not None
        try:
            while True:
                header = await self.proc.stdout.readuntil(b"\r\n\r\n")
                length = int(header.decode("ascii").split("Content-Length:")[1].split("\r\n")[0])
                body = await self.proc.stdout.readexactly(length)
                msg = json.loads(body.decode("utf-8"))
                self.frames.append(Frame(header, body, msg))
                await self._dispatch(msg)
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            async with self._cond:
                self._cond.notify_all()

    async def _read_stderr(self) -> None:
        assert self.proc.stderr is not None
        while chunk := await self.proc.stderr.read(4096):
            self.stderr += chunk

    async def _dispatch(self, msg: dict[str, Any]) -> None:
        self.messages.append(msg)
        if "method" not in msg:  # a response to one of our requests
            fut = self._futures.pop(json.dumps(msg.get("id")), None)
            if fut is not None and not fut.done():
                fut.set_result(msg)
        elif "id" in msg and self.auto_answer:
            await self.send({"id": msg["id"], "jsonrpc": "2.0", "result": None})
        async with self._cond:
            self._cond.notify_all()

    # -- writing --------------------------------------------------------------------------------
    async def send_raw(self, data: bytes) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(data)
        await self.proc.stdin.drain()

    async def send(self, msg: dict[str, Any]) -> None:
        body = json.dumps(msg, ensure_ascii=False).encode("utf-8")
        await self.send_raw(b"Content-Length: %d\r\n\r\n" % len(body) + body)

    async def notify(self, method: str, params: Any = None) -> None:
        msg: dict[str, Any] = {"jsonrpc": "2.0", "method": method}
        if params is not None:
            msg["params"] = params
        await self.send(msg)

    async def request(self, method: str, params: Any = None, rid: Any = None) -> asyncio.Future[Any]:
        """Send a request; the returned future resolves to the whole response message."""
        if rid is None:
            rid, self.next_id = self.next_id, self.next_id + 1
        fut: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._futures[json.dumps(rid)] = fut
        msg: dict[str, Any] = {"id": rid, "jsonrpc": "2.0", "method": method}
        if params is not None:
            msg["params"] = params
        await self.send(msg)
        return fut

    async def call(self, method: str, params: Any = None, timeout: float = 5) -> dict[str, Any]:
        return await asyncio.wait_for(await self.request(method, params), timeout)

    # -- conveniences ---------------------------------------------------------------------------
    async def initialize(self, rid: Any = None, initialized: bool = True) -> dict[str, Any]:
        """`initialize` (+ `initialized`); `rid` defaults to the next integer id."""
        params: dict[str, Any] = {"processId": None, "rootUri": "file:///proj", "capabilities": {}}
        resp: dict[str, Any] = await asyncio.wait_for(await self.request("initialize", params, rid), 5)
        if initialized:
            await self.notify("initialized", {})
        return resp

    async def open(self, uri: str, text: str, version: int = 1, mode: str | None = "never") -> None:
        td = {"uri": uri, "languageId": "lean", "version": version, "text": text}
        params: dict[str, Any] = {"textDocument": td}
        if mode is not None:
            params["dependencyBuildMode"] = mode
        await self.notify("textDocument/didOpen", params)

    async def change(self, uri: str, version: int, *changes: dict[str, Any]) -> None:
        params = {"textDocument": {"uri": uri, "version": version}, "contentChanges": list(changes)}
        await self.notify("textDocument/didChange", params)

    async def wait_diagnostics(self, uri: str, version: int, timeout: float = 5) -> dict[str, Any]:
        return await self.call("textDocument/waitForDiagnostics", {"uri": uri, "version": version}, timeout)

    async def plain_goal(self, uri: str, line: int, character: int, timeout: float = 5) -> dict[str, Any]:
        params = {"textDocument": {"uri": uri}, "position": {"line": line, "character": character}}
        return await self.call("$/lean/plainGoal", params, timeout)

    async def wait_for(self, pred: Callable[[dict[str, Any]], bool], timeout: float = 5) -> dict[str, Any]:
        """First received message (from the start) satisfying `pred`."""

        def find() -> dict[str, Any] | None:
            return next((m for m in self.messages if pred(m)), None)

        async with self._cond:
            await asyncio.wait_for(self._cond.wait_for(lambda: find() is not None), timeout)
        msg = find()
        assert msg is not None
        return msg

    async def wait_until(self, cond: Callable[[], bool], timeout: float = 5) -> None:
        async with self._cond:
            await asyncio.wait_for(self._cond.wait_for(cond), timeout)

    def published(self, uri: str, version: int | None = None) -> list[dict[str, Any]]:
        """All publishDiagnostics params for `uri` (optionally only `version`), in arrival order."""
        return [
            m["params"]
            for m in self.messages
            if m.get("method") == "textDocument/publishDiagnostics"
            and m["params"]["uri"] == uri
            and (version is None or m["params"]["version"] == version)
        ]

    async def wait_exit(self, timeout: float = 5) -> int:
        """Wait for the process to exit (and its stderr to be drained); returns the exit code."""
        code = await asyncio.wait_for(self.proc.wait(), timeout)
        await asyncio.wait_for(asyncio.gather(*self._tasks), timeout)
        return code

    @property
    def stderr_text(self) -> str:
        return self.stderr.decode("utf-8", "replace")

    async def close(self) -> None:
        if self.proc.returncode is None:
            self.proc.kill()
            await self.proc.wait()
        for t in self._tasks:
            t.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
