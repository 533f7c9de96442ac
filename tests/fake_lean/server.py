#!/usr/bin/env python3
"""A fake ``lake serve`` (Lean 4 watchdog + workers) speaking the real LSP wire protocol.

Run as ``python tests/fake_lean/server.py --script SCRIPT.json [knobs]``; stdlib only.  Frames,
message shapes, ordering and error codes follow /work/shared/reference/lean-server-protocol.md
(§2-§8, §12); the "elaboration" is scripted (see README.md and elaborate.py).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import queue
import sys
import threading
import traceback
from dataclasses import dataclass, field
from typing import Any, NoReturn

try:
    from . import elaborate as elab
except ImportError:  # run as a script: python tests/fake_lean/server.py
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    import elaborate as elab  # type: ignore[no-redef,import-not-found,unused-ignore]

# Recorded `initialize` result (reference §3.2), verbatim.
INITIALIZE_RESULT: dict[str, Any] = json.loads(
    '{"capabilities":{"callHierarchyProvider":true,"codeActionProvider":{"codeActionKinds":["quickfix","r'
    'efactor","source.organizeImports"],"resolveProvider":true,"workDoneProgress":false},"colorProvider":'
    '{"workDoneProgress":false},"completionProvider":{"resolveProvider":true,"triggerCharacters":["."]},"'
    'declarationProvider":true,"definitionProvider":true,"documentHighlightProvider":true,"documentSymbol'
    'Provider":true,"experimental":{"moduleHierarchyProvider":{},"rpcProvider":{"highlightMatchesProvider'
    '":{},"rpcWireFormat":"v1"}},"foldingRangeProvider":true,"hoverProvider":true,"inlayHintProvider":{"r'
    'esolveProvider":false,"workDoneProgress":false},"referencesProvider":true,"renameProvider":{"prepare'
    'Provider":true},"semanticTokensProvider":{"full":true,"legend":{"tokenModifiers":["declaration","def'
    'inition","readonly","static","deprecated","abstract","async","modification","documentation","default'
    'Library"],"tokenTypes":["keyword","variable","property","function","namespace","type","class","enum"'
    ',"interface","struct","typeParameter","parameter","enumMember","event","method","macro","modifier","'
    'comment","string","number","regexp","operator","decorator","leanSorryLike"]},"range":true},"signatur'
    'eHelpProvider":{"triggerCharacters":[" "],"workDoneProgress":false},"textDocumentSync":{"change":2,"'
    'openClose":true,"save":{"includeText":true},"willSave":false,"willSaveWaitUntil":false},"typeDefinit'
    'ionProvider":true,"workspaceSymbolProvider":true},"serverInfo":{"name":"Lean 4 Server","version":"0.'
    '3.0"}}'
)

# Server -> client request sent right after `initialized` (reference §3.3), verbatim.
REGISTER_WATCHER: dict[str, Any] = {
    "id": "register_lean_watcher",
    "jsonrpc": "2.0",
    "method": "client/registerCapability",
    "params": {
        "registrations": [
            {
                "id": "lean_watcher",
                "method": "workspace/didChangeWatchedFiles",
                "registerOptions": {
                    "watchers": [{"globPattern": "**/*.lean"}, {"globPattern": "**/*.ilean"}]
                },
            }
        ]
    },
}

INVALID_REQUEST, METHOD_NOT_FOUND, INVALID_PARAMS, INTERNAL_ERROR = -32600, -32601, -32602, -32603
REQUEST_CANCELLED, CONTENT_MODIFIED = -32800, -32801

# Notifications the real watchdog handles without comment (everything else non-`$/` is logged).
QUIET_NOTIFICATIONS = {"textDocument/didSave", "workspace/didChangeWatchedFiles"}


def encode(msg: dict[str, Any]) -> bytes:
    """One frame exactly as Lean writes it: Content-Length header only, compact JSON, sorted keys."""
    body = json.dumps(msg, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    return b"Content-Length: %d\r\n\r\n" % len(body) + body


def id_key(rid: Any) -> str:
    return json.dumps(rid)  # distinguishes 0 from "0"


class RpcError(Exception):
    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code, self.message = code, message


class Transport:
    """Blocking stdin/stdout I/O on two threads (no O_NONBLOCK games with inherited fds)."""

    EOF = object()

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.inbox: asyncio.Queue[Any] = asyncio.Queue()
        self.outbox: queue.Queue[bytes | None] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()
        self.writer = threading.Thread(target=self._write, daemon=True)
        self.writer.start()

    def _post(self, item: Any) -> None:
        with contextlib.suppress(RuntimeError):  # loop already closed
            self.loop.call_soon_threadsafe(self.inbox.put_nowait, item)

    def _read(self) -> None:
        stream = sys.stdin.buffer
        while True:
            length = None
            while True:
                line = stream.readline()
                if not line:
                    return self._post(self.EOF)
                if line in (b"\r\n", b"\n"):
                    break
                name, sep, value = line.decode("utf-8", "replace").partition(":")
                if not sep:
                    return self._post(RpcError(0, f"malformed header line {line!r}"))
                if name.strip().lower() == "content-length":
                    length = int(value.strip())
            if length is None:
                return self._post(RpcError(0, "frame without Content-Length"))
            body = stream.read(length)
            if len(body) < length:
                return self._post(self.EOF)
            try:
                self._post(json.loads(body.decode("utf-8")))
            except ValueError as e:
                return self._post(RpcError(0, f"invalid JSON body: {e}"))

    def _write(self) -> None:
        out = sys.stdout.buffer
        while (data := self.outbox.get()) is not None:
            try:
                out.write(data)
                out.flush()
            except (BrokenPipeError, OSError):
                return

    def send(self, msg: dict[str, Any]) -> None:
        self.outbox.put(encode(msg))

    def close(self) -> None:
        self.outbox.put(None)
        self.writer.join(timeout=5)


@dataclass
class Run:
    """One elaboration of one document version."""

    version: int
    text: str
    state: str = "running"  # running | done | superseded
    done: asyncio.Event = field(default_factory=asyncio.Event)
    result: elab.Result | None = None
    task: asyncio.Task[None] | None = None
    redone: int = 0  # declarations this version re-elaborates (--decl-ms each)


@dataclass
class Doc:
    uri: str
    version: int
    text: str
    run: Run | None = None
    changed: asyncio.Event = field(default_factory=asyncio.Event)  # set (and replaced) on each new version


@dataclass
class Pending:
    rid: Any
    method: str
    uri: str | None
    task: asyncio.Task[None] | None = None


class FakeLean:
    def __init__(self, args: argparse.Namespace, script: elab.Script) -> None:
        self.args = args
        self.script = script
        self.transport = Transport(asyncio.get_running_loop())
        self.docs: dict[str, Doc] = {}
        self.last_version: dict[str, int] = {}
        self.pending: dict[str, Pending] = {}
        self.outstanding: set[str] = set()  # ids of our requests the client has not answered yet
        self.next_server_id = 0
        self.n_requests = 0
        self.n_content_modified = 0
        self.shut_down = False
        self.faults_armed = True  # cleared by --faults-first-start-only in a restarted process

    # -- logging / state dir --------------------------------------------------------------------
    def _append(self, name: str, line: str) -> None:
        if self.args.state_dir:
            with open(os.path.join(self.args.state_dir, name), "a", encoding="utf-8") as f:
                f.write(line + "\n")

    def _first_start(self) -> bool:
        starts = os.path.join(self.args.state_dir, "starts.log")
        return not (os.path.exists(starts) and os.path.getsize(starts) > 0)

    def stderr(self, text: str) -> None:
        sys.stderr.write(text + "\n")
        sys.stderr.flush()

    def violation(self, text: str) -> None:
        self.stderr(f"fake lean: PROTOCOL VIOLATION: {text}")
        self._append("violations.log", text)

    def exit(self, code: int, reason: str | None = None) -> NoReturn:
        if reason:
            self.stderr(reason)
        self.transport.close()
        sys.stderr.flush()
        os._exit(code)

    # -- output ---------------------------------------------------------------------------------
    def notify(self, method: str, params: dict[str, Any]) -> None:
        self.transport.send({"jsonrpc": "2.0", "method": method, "params": params})

    def respond(self, rid: Any, result: Any) -> None:
        self.transport.send({"id": rid, "jsonrpc": "2.0", "result": result})

    def respond_error(self, rid: Any, code: int, message: str) -> None:
        self.transport.send({"error": {"code": code, "message": message}, "id": rid, "jsonrpc": "2.0"})

    def server_request(self, method: str) -> None:
        rid, self.next_server_id = self.next_server_id, self.next_server_id + 1
        self.outstanding.add(id_key(rid))
        self.transport.send({"id": rid, "jsonrpc": "2.0", "method": method})

    def progress(self, uri: str, version: int, processing: list[dict[str, Any]]) -> None:
        td = {"uri": uri, "version": version}
        self.notify("$/lean/fileProgress", {"processing": processing, "textDocument": td})

    def publish(self, uri: str, version: int, diagnostics: list[dict[str, Any]]) -> None:
        params = {"diagnostics": diagnostics, "uri": uri, "version": version}
        self.notify("textDocument/publishDiagnostics", params)

    # -- main loop ------------------------------------------------------------------------------
    async def next_message(self) -> dict[str, Any]:
        msg: Any = await self.transport.inbox.get()
        if msg is Transport.EOF:
            self.exit(0)
        if isinstance(msg, RpcError):
            self.exit(1, f"fake lean: fatal read error: {msg.message}")
        line = json.dumps(msg, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        self._append("received.jsonl", line)
        if not isinstance(msg, dict):
            self.exit(1, f"fake lean: message is not a JSON object: {msg!r}")
        if "method" in msg and "id" in msg and self.faults_armed:
            self.n_requests += 1
            if self.args.crash_after_requests and self.n_requests >= self.args.crash_after_requests:
                self.exit(1, f"fake lean: crash (--crash-after-requests {self.args.crash_after_requests})")
            if self.args.garbage_after_requests and self.n_requests == self.args.garbage_after_requests:
                self.garbage()
        return dict(msg)

    def garbage(self) -> None:
        """A frame whose body is not JSON (not even UTF-8), then a header line without a colon.

        The process keeps running: a client must give up on this stream by itself."""
        self.stderr(f"fake lean: garbage (--garbage-after-requests {self.args.garbage_after_requests})")
        body = b"\xff\xfe{not json"
        self.transport.outbox.put(b"Content-Length: %d\r\n\r\n" % len(body) + body + b"\x00garbage\r\n")

    def spawn_busy_worker(self) -> None:
        """Like a `lean --worker` stuck in a long elaboration (reference §1: workers are children of
        the watchdog, in its process group, sharing its stderr): it reads no pipe and ignores
        SIGTERM/SIGHUP/SIGINT, so only SIGKILL of its group ends it."""
        code = (
            "import signal, sys, time\n"
            "for s in (signal.SIGTERM, signal.SIGHUP, signal.SIGINT):\n"
            "    signal.signal(s, signal.SIG_IGN)\n"
            "sys.stdout.write('ready\\n'); sys.stdout.flush()\n"
            "time.sleep(3600)\n"
        )
        import subprocess  # only this knob needs it

        worker = subprocess.Popen(
            [sys.executable, "-c", code, "--fake-lean-worker", self.args.state_dir or ""],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
        )
        assert worker.stdout is not None
        worker.stdout.readline()  # its signal dispositions are set: it is as stubborn as it gets
        self._append("workers.log", str(worker.pid))

    def toolchain_is_broken(self) -> bool:
        """With --broken-if-toolchain TEXT, only a `lean-toolchain` (in the cwd, the project root)
        containing TEXT breaks the server: fixing that file fixes it, as with a real toolchain."""
        if self.args.broken_if_toolchain is None:
            return True
        try:
            with open("lean-toolchain", encoding="utf-8") as f:
                return self.args.broken_if_toolchain in f.read()
        except OSError:
            return False

    async def serve(self) -> None:
        if self.args.faults_first_start_only and self.args.state_dir:
            self.faults_armed = self._first_start()
        if self.args.busy_worker:
            self.spawn_busy_worker()
        self._append("starts.log", str(os.getpid()))
        msg = await self.next_message()
        if msg.get("method") != "initialize" or "id" not in msg:
            self.violation(f"first message must be the 'initialize' request, got {msg.get('method')!r}")
            self.exit(1, "fake lean: expected initialize request")
        if self.args.start_delay_ms and self.faults_armed:
            await asyncio.sleep(self.args.start_delay_ms / 1000)
        self.respond(msg["id"], INITIALIZE_RESULT)
        msg = await self.next_message()
        if msg.get("method") != "initialized" or "id" in msg:
            self.violation(f"message before 'initialized' notification: {msg.get('method')!r}")
            self.exit(1, "fake lean: expected initialized notification")
        if self.args.exit_after_initialized is not None and self.toolchain_is_broken():
            # A broken installation seen from outside: the server answers `initialize`, then dies
            # after saying why on stderr (the wording here is the fake's own, not Lean's).
            self.stderr("fake lean: loading the project")
            self.stderr(f"fake lean: broken project, exiting with {self.args.exit_after_initialized}")
            self.exit(self.args.exit_after_initialized)
        self.outstanding.add(id_key(REGISTER_WATCHER["id"]))
        self.transport.send(REGISTER_WATCHER)
        while True:
            msg = await self.next_message()
            try:
                self.dispatch(msg)
            except (KeyError, TypeError, ValueError, AttributeError) as e:
                self.violation(f"malformed {msg.get('method')!r} message ({type(e).__name__}: {e}): {msg}")

    def dispatch(self, msg: dict[str, Any]) -> None:
        method = msg.get("method")
        if method is None:
            key = id_key(msg.get("id"))
            if key not in self.outstanding:
                self.stderr(f"fake lean: response to unknown server request id {msg.get('id')!r}")
            self.outstanding.discard(key)
        elif "id" in msg:
            self.on_request(msg["id"], method, msg.get("params") or {})
        else:
            self.on_notification(method, msg.get("params") or {})

    # -- notifications --------------------------------------------------------------------------
    def on_notification(self, method: str, params: dict[str, Any]) -> None:
        if method == "exit":
            self.exit(0)
        if self.shut_down:
            return
        handler = {
            "textDocument/didOpen": self.did_open,
            "textDocument/didChange": self.did_change,
            "textDocument/didClose": self.did_close,
            "$/cancelRequest": self.cancel_request,
        }.get(method)
        if handler is not None:
            handler(params)
        elif method == "initialized":
            self.violation("second 'initialized' notification")
        elif not method.startswith("$/") and method not in QUIET_NOTIFICATIONS:
            self.stderr(f"Got unsupported notification: {method}")

    def check_version(self, uri: str, version: Any) -> None:
        last = self.last_version.get(uri)
        if not isinstance(version, int):
            self.violation(f"missing/invalid version {version!r} for {uri}")
            return
        if last is not None and version <= last:
            self.violation(f"version {version} for {uri} does not increase (last sent: {last})")
        self.last_version[uri] = version if last is None else max(last, version)

    def did_open(self, params: dict[str, Any]) -> None:
        td = params["textDocument"]
        uri, version, text = td["uri"], td["version"], td["text"].replace("\r\n", "\n")
        if "dependencyBuildMode" not in params:
            self.violation(f"didOpen without dependencyBuildMode for {uri} (Lean defaults to 'always')")
        old = self.docs.get(uri)
        if old is not None:
            self.violation(f"didOpen for already open {uri} (send didClose first)")
            if old.run:
                self.supersede(old.run)
            old.changed.set()
        self.check_version(uri, version)
        doc = Doc(uri, version, text)
        self.docs[uri] = doc
        self.start(doc, restart=False, previous=None)

    def did_change(self, params: dict[str, Any]) -> None:
        td = params["textDocument"]
        uri, version = td["uri"], td.get("version")
        doc = self.docs.get(uri)
        if doc is None:
            self.violation(f"didChange for unopened {uri} (ignored)")
            return
        self.check_version(uri, version)
        text = doc.text
        for change in params["contentChanges"]:
            text = elab.apply_change(text, change)
        restart = elab.header_of(text) != elab.header_of(doc.text)
        previous = None if restart else doc.text
        doc.text, doc.version = text, version if isinstance(version, int) else doc.version + 1
        self.start(doc, restart=restart, previous=previous)

    def did_close(self, params: dict[str, Any]) -> None:
        uri = params["textDocument"]["uri"]
        doc = self.docs.pop(uri, None)
        if doc is None:
            self.violation(f"didClose for unopened {uri}")
            return
        self.fail_pending(uri, f"The file worker for {uri} has been terminated.")
        if doc.run:
            self.supersede(doc.run)
        self.publish(uri, doc.version, [])

    def cancel_request(self, params: dict[str, Any]) -> None:
        key = id_key(params["id"])
        if key in self.pending:
            self.finish(key, RpcError(REQUEST_CANCELLED, ""))

    # -- elaboration ----------------------------------------------------------------------------
    def start(self, doc: Doc, restart: bool, previous: str | None) -> None:
        if doc.run:
            self.supersede(doc.run)
        doc.changed.set()
        doc.changed = asyncio.Event()
        run = doc.run = Run(doc.version, doc.text)
        # A worker reuses the commands before the first edited line and re-elaborates the rest,
        # one declaration after another (--decl-ms each); a fresh document elaborates them all.
        first = 0 if previous is None else elab.first_changed_line(previous, doc.text)
        run.redone = elab.declarations_from(doc.text, first)
        whole = {"start": {"line": 0, "character": 0}, "end": elab.eof_position(doc.text)}
        self.progress(doc.uri, doc.version, [{"kind": 1, "range": whole}])
        self.publish(doc.uri, doc.version, [])
        run.task = asyncio.create_task(self.elaborate(doc.uri, run, restart))

    def supersede(self, run: Run) -> None:
        if run.task:
            run.task.cancel()
        if run.state == "running":
            run.state = "superseded"
            run.done.set()

    async def elaborate(self, uri: str, run: Run, restart: bool) -> None:
        try:
            await self._elaborate(uri, run, restart)
        except asyncio.CancelledError:
            raise
        except Exception:  # a bug in the fake (or a bad script): die loudly instead of hanging
            traceback.print_exc()
            self.exit(2, "fake lean: internal error during elaboration")

    async def _elaborate(self, uri: str, run: Run, restart: bool) -> None:
        delay = self.args.latency_ms + self.args.decl_ms * run.redone
        delay += self.args.header_ms if restart else 0
        if delay:
            await asyncio.sleep(delay / 1000)
        result = elab.elaborate(run.text, self.script)
        if result.crash:
            self.exit(1, "fake lean: crash")
        if result.delay_ms:
            await asyncio.sleep(result.delay_ms / 1000)
        if result.hang:
            return  # this version never finishes; a later didChange supersedes it
        self.progress(uri, run.version, [])
        self.publish(uri, run.version, result.diagnostics)
        self.progress(uri, run.version, [])
        run.result, run.state = result, "done"
        run.done.set()
        self.server_request("workspace/inlayHint/refresh")
        self.server_request("workspace/semanticTokens/refresh")

    async def finished(self, run: Run) -> elab.Result:
        await run.done.wait()
        if run.state != "done" or run.result is None:
            raise RpcError(CONTENT_MODIFIED, "File changed.")
        return run.result

    # -- requests -------------------------------------------------------------------------------
    def on_request(self, rid: Any, method: str, params: dict[str, Any]) -> None:
        if self.shut_down:
            return self.respond_error(rid, INVALID_REQUEST, "Request received after 'shutdown' request.")
        if method == "shutdown":
            self.shut_down = True
            for uri in list(self.docs):
                self.fail_pending(uri, f"The file worker for {uri} has been terminated.")
            for doc in self.docs.values():
                if doc.run:
                    self.supersede(doc.run)
            return self.respond(rid, None)
        handler = {
            "textDocument/waitForDiagnostics": self.wait_for_diagnostics,
            "$/lean/plainGoal": self.plain_goal,
            "$/lean/plainTermGoal": self.plain_term_goal,
        }.get(method)
        if handler is None:
            return self.respond_error(rid, METHOD_NOT_FOUND, f"No request handler found for '{method}'")
        try:
            is_wait = method == "textDocument/waitForDiagnostics"
            uri = params["uri"] if is_wait else params["textDocument"]["uri"]
        except (KeyError, TypeError):
            return self.respond_error(rid, INVALID_PARAMS, f"Invalid params for '{method}': {params}")
        if uri not in self.docs:
            return self.respond_error(rid, CONTENT_MODIFIED, f"Cannot process request to closed file '{uri}'")
        if self.faults_armed and self.n_content_modified < self.args.content_modified_requests:
            # What Lean answers a request whose document changed under it (reference §8).
            self.n_content_modified += 1
            return self.respond_error(rid, CONTENT_MODIFIED, "File changed.")
        key = id_key(rid)
        if key in self.pending:
            self.violation(f"request id {rid!r} reused while still pending")
        pending = self.pending[key] = Pending(rid, method, uri)
        # Like a Lean worker, bind the request to the document state at the time it is received.
        run = self.docs[uri].run
        assert run is not None
        pending.task = asyncio.create_task(self.run_request(key, handler(uri, params, run)))

    async def run_request(self, key: str, coro: Any) -> None:
        try:
            result = await coro
        except RpcError as e:
            return self.finish(key, e)
        except (KeyError, TypeError, ValueError) as e:
            return self.finish(key, RpcError(INVALID_PARAMS, f"Invalid params: {e!r}"))
        except Exception as e:  # a bug in the fake: answer loudly instead of hanging
            traceback.print_exc()
            return self.finish(key, RpcError(INTERNAL_ERROR, f"fake lean internal error: {e!r}"))
        self.finish(key, None, result)

    def finish(self, key: str, error: RpcError | None, result: Any = None) -> None:
        pending = self.pending.pop(key, None)
        if pending is None:
            return
        if error is not None:
            self.respond_error(pending.rid, error.code, error.message)
        else:
            self.respond(pending.rid, result)
        if pending.task is not None and pending.task is not asyncio.current_task():
            pending.task.cancel()

    def fail_pending(self, uri: str, message: str) -> None:
        for key, pending in list(self.pending.items()):
            if pending.uri == uri:
                self.finish(key, RpcError(CONTENT_MODIFIED, message))

    async def wait_for_diagnostics(self, uri: str, params: dict[str, Any], run: Run) -> dict[str, Any]:
        version = params["version"]
        if run.version < version:  # never sent => never answers (until cancel/close)
            while self.docs[uri].version < version:
                await self.docs[uri].changed.wait()
            run = self.docs[uri].run or run
        await self.finished(run)
        return {}

    async def plain_goal(self, uri: str, params: dict[str, Any], run: Run) -> dict[str, Any] | None:
        result = await self.finished(run)
        pos = params["position"]
        return elab.plain_goal(result, run.text, pos["line"], pos["character"])

    async def plain_term_goal(self, uri: str, params: dict[str, Any], run: Run) -> None:
        await self.finished(run)
        return None


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description="Fake Lean 4 language server (lake serve) for tests.")
    p.add_argument("--script", required=True, help="JSON elaboration script (see README.md)")
    p.add_argument("--latency-ms", type=int, default=0, help="sleep before each elaboration finishes")
    p.add_argument("--header-ms", type=int, default=0, help="extra sleep when a didChange edits the imports")
    p.add_argument(
        "--decl-ms", type=int, default=0, help="sleep per re-elaborated declaration (serial per document)"
    )
    p.add_argument("--start-delay-ms", type=int, default=0, help="sleep before answering initialize")
    p.add_argument("--state-dir", help="append starts.log, violations.log, received.jsonl here")
    p.add_argument("--crash-after-requests", type=int, default=0, help="exit 1 upon the N-th client request")
    p.add_argument(
        "--content-modified-requests",
        type=int,
        default=0,
        help="answer the first N goal/diagnostics requests with ContentModified 'File changed.'",
    )
    p.add_argument(
        "--garbage-after-requests",
        type=int,
        default=0,
        help="write a garbled frame upon the N-th client request",
    )
    p.add_argument(
        "--busy-worker",
        action="store_true",
        help="start a child that ignores its pipe and SIGTERM/SIGHUP/SIGINT (workers.log: its pid)",
    )
    p.add_argument(
        "--exit-after-initialized",
        type=int,
        metavar="CODE",
        help="print a lakefile error on stderr and exit with CODE right after `initialized`, at every start",
    )
    p.add_argument(
        "--broken-if-toolchain",
        metavar="TEXT",
        help="--exit-after-initialized only while ./lean-toolchain contains TEXT",
    )
    p.add_argument(
        "--faults-first-start-only",
        action="store_true",
        help="crash/garbage/start-delay knobs only in the first process started with this --state-dir",
    )
    # `lake serve -- <args>` compatibility: ignore anything after `--` (e.g. -Dserver.reportDelayMs=0).
    argv = sys.argv[1:] if argv is None else argv
    if "--" in argv:
        argv = argv[: argv.index("--")]
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    script = elab.Script.load(args.script)
    if args.state_dir:
        os.makedirs(args.state_dir, exist_ok=True)

    async def amain() -> None:
        await FakeLean(args, script).serve()

    asyncio.run(amain())


if __name__ == "__main__":
    main()
