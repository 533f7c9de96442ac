"""Fuzzing the LSP surface of the real server process over raw stdio JSON-RPC.

Malformed params, positions out of range, unknown URIs, lone UTF-16 surrogates, non-JSON bodies,
huge documents and requests before `initialize` reach pygls and our handlers unfiltered. The
server must answer every request (with an error where the request is wrong), never exit, and
after each batch still give the right suggestion on a known document.
"""

from __future__ import annotations

import asyncio
import json
import re
import threading
from collections.abc import Callable, Coroutine, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.conftest import fake_lean_command
from tests.fake_lean.wire import LeanWire
from tests.lsp_helpers import proof_line
from tests.support.lsp_client import SERVER_CONFIG

pytestmark = pytest.mark.e2e

T = TypeVar("T")
EXAMPLES = 200
CHECK_THROUGH_LEAN_EVERY = 15
ANSWER_TIMEOUT_S = 30.0
TACTICS = ["rfl", "simp"]


# What the checks read: code-action literals with versioned edits (a client that declares less gets
# less, see tests/test_e2e_text.py).
CAPABILITIES = {
    "workspace": {"workspaceEdit": {"documentChanges": True}},
    "textDocument": {
        "codeAction": {"codeActionLiteralSupport": {"codeActionKind": {"valueSet": ["quickfix"]}}}
    },
}


class Session:
    """The server process, driven from an event loop on its own thread (hypothesis is synchronous)."""

    def __init__(self, project: Path, state: Path) -> None:
        self.project, self.state = project, state
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.sent = 0  # fuzz messages written (frames and raw chunks), not the checks
        self.requests_answered = 0
        self.sentinel = (project / "Examples.lean").as_uri()
        self.sentinel_text = (project / "Examples.lean").read_text()
        self.sentinel_version = 1
        self.ids = 0
        self.wire: LeanWire = self.run(self._spawn())

    def run(self, coroutine: Coroutine[Any, Any, T], timeout: float = ANSWER_TIMEOUT_S * 2) -> T:
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(timeout)

    async def _spawn(self) -> LeanWire:
        env = {**(SERVER_CONFIG.server_env or {}), "LLMSTEP_LOG_LEVEL": "WARNING"}
        process = await asyncio.create_subprocess_exec(
            *SERVER_CONFIG.server_command,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            env=env,
        )
        return AsciiWire(process)

    def next_id(self) -> str:
        self.ids += 1
        return f"fuzz-{self.ids}"

    async def initialize(self) -> dict[str, Any]:
        options = {
            "leanCommand": fake_lean_command(self.state),
            "model": "",
            "automationTactics": TACTICS,
            "codeActionWaitMs": 30000,
            "goalTimeoutS": 20,
            "verifyTimeoutS": 20,
        }
        params = {"processId": None, "rootUri": self.project.as_uri(), "capabilities": CAPABILITIES}
        answer = await self.wire.call(
            "initialize", {**params, "initializationOptions": options}, timeout=ANSWER_TIMEOUT_S
        )
        await self.wire.notify("initialized", {})
        await self.wire.notify(
            "textDocument/didOpen",
            {
                "textDocument": {
                    "uri": self.sentinel,
                    "languageId": "lean4",
                    "version": 1,
                    "text": self.sentinel_text,
                }
            },
        )
        return answer

    async def check(self, through_lean: bool) -> None:
        """The server still answers a valid request correctly (after an edit: a fresh Lean check)."""
        assert self.wire.proc.returncode is None, f"the server exited: {self.wire.stderr_text[-3000:]}"
        if through_lean:
            self.sentinel_version += 1
            self.sentinel_text += "\n"
            await self.wire.notify(
                "textDocument/didChange",
                {
                    "textDocument": {"uri": self.sentinel, "version": self.sentinel_version},
                    "contentChanges": [{"text": self.sentinel_text}],
                },
            )
        line = proof_line(self.sentinel_text, "two_eq_two", 1)
        position = {"line": line, "character": 2}
        answer = await self.wire.call(
            "textDocument/codeAction",
            {
                "textDocument": {"uri": self.sentinel},
                "range": {"start": position, "end": position},
                "context": {"diagnostics": []},
            },
            timeout=ANSWER_TIMEOUT_S,
        )
        actions = answer.get("result") or []
        assert actions, f"no suggestion on the known document: {answer}"
        assert actions[0]["title"] == "Try this: rfl (closes goal)"
        assert actions[0]["edit"]["documentChanges"][0]["textDocument"]["version"] == self.sentinel_version

    async def send_batch(self, batch: list[Message]) -> None:
        futures = []
        for message in batch:
            self.sent += 1
            if message.raw is not None:
                await self.wire.send_raw(message.raw)
            elif message.request:
                futures.append(await self.wire.request(message.method, message.params, rid=self.next_id()))
            else:
                await self.wire.send({"jsonrpc": "2.0", "method": message.method, "params": message.params})
        # Every request is answered: a result, or an error saying what was wrong with it.
        answers = await asyncio.wait_for(asyncio.gather(*futures), ANSWER_TIMEOUT_S)
        for answer in answers:
            assert "result" in answer or ("error" in answer and "code" in answer["error"]), answer
        self.requests_answered += len(answers)

    def close(self) -> None:
        self.run(self._close())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)

    async def _close(self) -> None:
        if self.wire.proc.returncode is None:
            await self.wire.call("shutdown", None, timeout=ANSWER_TIMEOUT_S)
            await self.wire.notify("exit")
            await self.wire.wait_exit(ANSWER_TIMEOUT_S)
        await self.wire.close()


class AsciiWire(LeanWire):
    """Escapes non-ASCII (`\\ud800`), so lone surrogates are sent as the valid JSON they can be."""

    async def send(self, msg: dict[str, Any]) -> None:
        await self.send_raw(frame(json.dumps(msg).encode()))


@dataclass(frozen=True)
class Message:
    method: str = ""
    params: Any = None
    request: bool = False
    raw: bytes | None = None


def frame(body: bytes) -> bytes:
    return b"Content-Length: %d\r\n\r\n" % len(body) + body


# --- strategies ---------------------------------------------------------------------------------

# Text with what editors and models really produce, plus lone surrogates (valid JSON escapes,
# invalid Unicode) and control characters.
TEXT = st.text(
    alphabet=st.one_of(
        st.characters(codec="utf-8"),
        st.characters(categories=["Cs"]),
        st.sampled_from(list("𝓝⟨⟩ℕ→∀·\r\n\t\0")),
    ),
    max_size=60,
)
LEANISH = st.sampled_from(
    [
        "theorem two_eq_two : 2 = 2 := by\n  sorry\n",
        "theorem t : 1 = 1 := by\n  \n",
        "example (n : ℕ) : n + 0 = n := by\n  exact\n",
        "theorem x : 𝓝 := by\n  simp\n  sorry",
        "",
    ]
)
SMALL = st.integers(min_value=0, max_value=60)
# Mostly well-typed numbers (so messages get past pygls into our handlers), some out of any range,
# some not numbers at all.
INT = st.one_of(
    SMALL,
    SMALL,
    SMALL,
    st.sampled_from([-1, -(2**31), 2**31 - 1, 2**31, 2**53, -(2**63), 10**30]),
    st.sampled_from([None, 1.5, float("nan"), "3", True]),
)
JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | TEXT,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(TEXT, children, max_size=4),
    max_leaves=12,
)


@st.composite
def uris(draw: st.DrawFn, project: Path) -> Any:
    # Few file URIs, so a handful of (fake) Lean servers at most: Fuzz.lean in the project, a
    # directory that does not exist (its Lean server cannot start), and the rest not files at all.
    fuzz = (project / "Fuzz.lean").as_uri()
    others = [
        (project / "Nested" / "Deep.lean").as_uri(),
        "file:///nonexistent-llmstep-fuzz/X.lean",
        "untitled:Untitled-1",
        "http://example.com/A.lean",
        "file://",
        "",
    ]
    return draw(st.one_of(st.just(fuzz), st.just(fuzz), st.sampled_from(others), TEXT, INT))


@st.composite
def positions(draw: st.DrawFn) -> Any:
    return draw(st.one_of(st.fixed_dictionaries({"line": INT, "character": INT}), JSON))


@st.composite
def messages(draw: st.DrawFn, project: Path) -> Message:
    uri = draw(uris(project))
    position = draw(positions())
    document = {"uri": uri}
    kind = draw(st.integers(0, 14))
    if kind >= 12:
        return draw(well_formed(project))
    if kind == 0:
        text = draw(st.one_of(LEANISH, TEXT))
        version = draw(INT)
        item = {
            "uri": uri,
            "languageId": draw(st.sampled_from(["lean4", "lean", "python", 7])),
            "version": version,
        }
        return Message("textDocument/didOpen", {"textDocument": {**item, "text": text}})
    if kind == 1:
        change = draw(
            st.one_of(
                st.fixed_dictionaries({"text": TEXT}),
                st.fixed_dictionaries(
                    {"range": st.fixed_dictionaries({"start": positions(), "end": positions()}), "text": TEXT}
                ),
                JSON,
            )
        )
        params = {
            "textDocument": {"uri": uri, "version": draw(INT)},
            "contentChanges": draw(st.lists(st.just(change), max_size=2)),
        }
        return Message("textDocument/didChange", params)
    if kind == 2:
        return Message(
            draw(st.sampled_from(["textDocument/didClose", "textDocument/didSave"])),
            {"textDocument": document},
        )
    if kind == 3:
        rng = {"start": position, "end": draw(positions())}
        context = draw(
            st.one_of(
                st.just({"diagnostics": []}), st.fixed_dictionaries({"diagnostics": JSON, "only": JSON}), JSON
            )
        )
        params = {"textDocument": document, "range": rng, "context": context}
        return Message("textDocument/codeAction", params, request=True)
    if kind == 4:
        context = draw(st.one_of(st.just({"triggerKind": 1}), JSON))
        params = {"textDocument": document, "position": position, "context": context}
        return Message("textDocument/inlineCompletion", params, request=True)
    if kind == 5:
        return Message("llmstep/suggest", {"textDocument": document, "position": position}, request=True)
    if kind == 6:
        arguments = draw(st.one_of(st.tuples(st.just(uri), INT).map(list), JSON))
        return Message(
            "workspace/executeCommand", {"command": "llmstep.suggest", "arguments": arguments}, request=True
        )
    if kind == 7:
        method = draw(
            st.one_of(st.sampled_from(["textDocument/hover", "$/lean/plainGoal", "initialize", "foo"]), TEXT)
        )
        if method in ("shutdown", "exit"):
            method = "not-" + method
        return Message(method, draw(JSON), request=draw(st.booleans()))
    if kind == 8:
        return Message("$/cancelRequest", draw(st.one_of(st.fixed_dictionaries({"id": JSON}), JSON)))
    if kind == 9:
        # Settings with names no setting has: a user's typo must change nothing.
        settings = draw(st.dictionaries(TEXT.map(lambda k: "zz" + k), JSON, max_size=3))
        return Message("workspace/didChangeConfiguration", {"settings": settings})
    if kind == 10:
        # Well-framed bodies that are not JSON-RPC: invalid JSON, invalid UTF-8, non-objects.
        body = draw(
            st.one_of(
                st.binary(max_size=40),
                st.sampled_from([b"{", b"[]", b"null", b"42", b'"x"', b"\xff\xfe{}", b'{"jsonrpc":"2.0"}']),
                JSON.map(lambda value: json.dumps(value).encode()),
                st.fixed_dictionaries({"id": JSON, "method": JSON, "params": JSON}).map(
                    lambda m: json.dumps(m).encode()
                ),
            )
        )
        return Message(raw=frame(body))
    # Header noise before a proper frame: unknown headers, lines without a colon.
    noise = draw(
        st.sampled_from([b"X-Junk: 1\r\n", b"garbage\r\n", b"Content-Type: text/plain\r\n", b"\r\n"])
    )
    return Message(raw=noise + frame(b'{"jsonrpc":"2.0","method":"$/noise","params":{}}'))


@st.composite
def well_formed(draw: st.DrawFn, project: Path) -> Message:
    """Messages pygls can read about Fuzz.lean (so they reach our handlers and Lean), with odd text:
    lone surrogates, astral characters, NUL, CR, and positions past the end of lines and file."""
    uri = (project / "Fuzz.lean").as_uri()
    text = draw(st.builds(lambda a, b: a + b, LEANISH, TEXT))
    position = draw(st.fixed_dictionaries({"line": SMALL, "character": SMALL}))
    choice = draw(st.integers(0, 2))
    if choice == 0:
        item = {"uri": uri, "languageId": "lean4", "version": draw(SMALL), "text": text}
        return Message("textDocument/didOpen", {"textDocument": item})
    if choice == 1:
        rng = {"start": position, "end": draw(st.fixed_dictionaries({"line": SMALL, "character": SMALL}))}
        params = {
            "textDocument": {"uri": uri, "version": draw(SMALL)},
            "contentChanges": [draw(st.sampled_from([{"range": rng, "text": text}, {"text": text}]))],
        }
        return Message("textDocument/didChange", params)
    params = {
        "textDocument": {"uri": uri},
        "range": {"start": position, "end": position},
        "context": {"diagnostics": []},
    }
    return Message("textDocument/codeAction", params, request=True)


# --- tests --------------------------------------------------------------------------------------


@pytest.fixture
def session(lean_project: Path, fake_state: Path) -> Iterator[Session]:
    session = Session(lean_project, fake_state)
    try:
        yield session
    finally:
        session.close()


def _fuzz(session: Session, project: Path, record: Callable[[str, object], None]) -> None:
    batches = 0

    @settings(
        max_examples=EXAMPLES,
        derandomize=True,
        database=None,
        deadline=None,
        suppress_health_check=[
            HealthCheck.too_slow,
            HealthCheck.function_scoped_fixture,
            HealthCheck.data_too_large,
        ],
    )
    @given(st.lists(messages(project), min_size=1, max_size=8))
    def batch(messages: list[Message]) -> None:
        nonlocal batches
        batches += 1
        session.run(session.send_batch(messages))
        session.run(session.check(through_lean=batches % CHECK_THROUGH_LEAN_EVERY == 0))

    batch()
    record("fuzz_messages", session.sent)
    record("fuzz_requests_answered", session.requests_answered)
    # One message a line; not splitlines(): that also splits at U+2028, \x1c, … inside the text.
    received = (session.state / "received.jsonl").read_text().split("\n")
    lean = [json.loads(line) for line in received if line]
    fuzz_uri = (project / "Fuzz.lean").as_uri()
    about_fuzz = len([m for m in lean if fuzz_uri in json.dumps(m.get("params"))])
    record("fuzz_lean_messages_about_fuzz_lean", about_fuzz)
    print(
        f"fuzz: {session.sent} messages in {batches} batches, {session.requests_answered} requests "
        f"answered; Lean got {about_fuzz} messages about Fuzz.lean"
    )
    # Whatever the editor sent, what we sent Lean followed its protocol.
    violations = session.state / "violations.log"
    assert not violations.exists() or not violations.read_text().strip(), violations.read_text()[:2000]
    # pygls answers what it cannot read with an error (and an "Error in server" message); what
    # must never happen is an exception escaping *our* code on a message pygls could read.
    tracebacks = session.wire.stderr_text.split("Traceback (most recent call last):")[1:]
    ours = [
        t
        for t in tracebacks
        if re.search(r"/llmstep_lsp/(?!lsp/pygls_fixes\.py)", t) and "raise JsonRpcInvalidParams(" not in t
    ]
    assert not ours, ours[0][-3000:]


def test_fuzzed_lsp_messages_get_answers_and_the_server_keeps_serving(
    session: Session, lean_project: Path, record_property: Callable[[str, object], None]
) -> None:
    session.run(session.initialize())
    session.run(session.check(through_lean=False))
    _fuzz(session, lean_project, record_property)
    assert session.sent >= EXAMPLES
    session.run(session.check(through_lean=True))


def test_requests_before_initialize_are_refused_and_initialize_still_works(session: Session) -> None:
    position = {"line": 0, "character": 0}
    early = session.run(
        session.wire.call(
            "textDocument/codeAction",
            {
                "textDocument": {"uri": session.sentinel},
                "range": {"start": position, "end": position},
                "context": {"diagnostics": []},
            },
            timeout=ANSWER_TIMEOUT_S,
        )
    )
    assert early["error"]["code"] == -32002, early  # ServerNotInitialized
    assert session.run(session.initialize())["result"]["serverInfo"]["name"] == "llmstep-lsp"
    session.run(session.check(through_lean=True))


async def ask_at(session: Session, uri: str, line: int) -> dict[str, Any]:
    position = {"line": line, "character": 2}
    params = {
        "textDocument": {"uri": uri},
        "range": {"start": position, "end": position},
        "context": {"diagnostics": []},
    }
    return await session.wire.call("textDocument/codeAction", params, timeout=ANSWER_TIMEOUT_S)


def test_a_huge_document_is_handled(session: Session, lean_project: Path) -> None:
    session.run(session.initialize())
    uri = (lean_project / "Huge.lean").as_uri()
    # 4 MiB: many proofs, long lines and astral characters (two UTF-16 units each).
    block = "theorem two_eq_two : 2 = 2 := by\n  sorry\n-- " + "𝓝" * 200 + "\n"
    text = block * (4 * 1024 * 1024 // len(block.encode()))
    session.run(
        session.wire.notify(
            "textDocument/didOpen",
            {"textDocument": {"uri": uri, "languageId": "lean4", "version": 1, "text": text}},
        )
    )
    far = text.count("\n") + 10**6

    # One after the other: a second request for the document means the cursor moved on.
    answers = [session.run(ask_at(session, uri, line)) for line in (1, far)]
    assert answers[0]["result"][0]["title"] == "Try this: rfl (closes goal)"
    assert answers[1].get("result") in (None, []), answers[1]
    session.run(session.check(through_lean=True))
