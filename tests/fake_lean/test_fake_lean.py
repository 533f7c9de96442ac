"""Tests for the fake Lean server, driven as a subprocess over raw LSP stdio framing."""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from . import elaborate as elab
from .wire import LeanWire

pytestmark = pytest.mark.timeout(30)

REFERENCE = Path("/work/shared/reference/lean-server-protocol.md")

# Reference §3.2, verbatim (compact).
EXPECTED_INIT_RESULT = json.loads(
    '{"capabilities":{"callHierarchyProvider":true,"codeActionProvider":{"codeActionKinds":["quickfix",'
    '"refactor","source.organizeImports"],"resolveProvider":true,"workDoneProgress":false},"colorProvider":'
    '{"workDoneProgress":false},"completionProvider":{"resolveProvider":true,"triggerCharacters":["."]},'
    '"declarationProvider":true,"definitionProvider":true,"documentHighlightProvider":true,'
    '"documentSymbolProvider":true,"experimental":{"moduleHierarchyProvider":{},"rpcProvider":'
    '{"highlightMatchesProvider":{},"rpcWireFormat":"v1"}},"foldingRangeProvider":true,"hoverProvider":true,'
    '"inlayHintProvider":{"resolveProvider":false,"workDoneProgress":false},"referencesProvider":true,'
    '"renameProvider":{"prepareProvider":true},"semanticTokensProvider":{"full":true,"legend":'
    '{"tokenModifiers":["declaration","definition","readonly","static","deprecated","abstract","async",'
    '"modification","documentation","defaultLibrary"],"tokenTypes":["keyword","variable","property",'
    '"function","namespace","type","class","enum","interface","struct","typeParameter","parameter",'
    '"enumMember","event","method","macro","modifier","comment","string","number","regexp","operator",'
    '"decorator","leanSorryLike"]},"range":true},"signatureHelpProvider":{"triggerCharacters":[" "],'
    '"workDoneProgress":false},"textDocumentSync":{"change":2,"openClose":true,"save":{"includeText":true},'
    '"willSave":false,"willSaveWaitUntil":false},"typeDefinitionProvider":true,"workspaceSymbolProvider":true},'
    '"serverInfo":{"name":"Lean 4 Server","version":"0.3.0"}}'
)
EXPECTED_REGISTER = json.loads(
    '{"id":"register_lean_watcher","jsonrpc":"2.0","method":"client/registerCapability","params":'
    '{"registrations":[{"id":"lean_watcher","method":"workspace/didChangeWatchedFiles","registerOptions":'
    '{"watchers":[{"globPattern":"**/*.lean"},{"globPattern":"**/*.ilean"}]}}]}}'
)

G22 = "⊢ 2 = 2"
GN = "n : ℕ\n⊢ n + 0 = n"
ZERO = "case zero\n⊢ 0 + 0 = 0"
SUCC = "case succ\nn : ℕ\nih : n + 0 = n\n⊢ n + 1 + 0 = n + 1"
NH0 = "f : ℕ → ℝ\n⊢ Tendsto f atTop (𝓝 0)"
NH1 = "f : ℕ → ℝ\nh : (𝓝 0).foo\n⊢ Tendsto f atTop (𝓝 0)"

SCRIPT: dict[str, Any] = {
    "declarations": {"two_eq_two": [G22], "example (n : ℕ) : n + 0 = n": [GN], "nhds_thm": [NH0]},
    "tactics": {
        G22: {"rfl": [], "decide": [], "simp": {"error": "simp made no progress"}},
        GN: {"induction n": [ZERO, SUCC], "omega": {"result": [], "delay_ms": 300}},
        NH0: {"have h : (𝓝 0).foo := rfl": [NH1]},
        NH1: {"exact h.tendsto": [], "exact (𝓝 0).bar": {"error": "bar failed on 𝓝"}},
        "*": {"simp": {"error": "simp made no progress"}},
    },
    "hang": ["aesop_hang"],
    "crash": ["crash_lean"],
}

URI = "file:///proj/Shadow.lean"
NHDS_DECL = "theorem nhds_thm (f : ℕ → ℝ) : Tendsto f atTop (𝓝 0) := by"

Spawn = Callable[..., Awaitable[LeanWire]]


def u16(s: str) -> int:
    """UTF-16 length, computed independently of the fake's helpers."""
    return len(s.encode("utf-16-le")) // 2


def rng(l1: int, c1: int, l2: int, c2: int) -> dict[str, Any]:
    return {"start": {"line": l1, "character": c1}, "end": {"line": l2, "character": c2}}


def goals(*gs: str) -> dict[str, Any]:
    return {"goals": list(gs), "rendered": "\n---\n".join(f"```lean\n{g}\n```" for g in gs) or "no goals"}


def diag(r: dict[str, Any], message: str, severity: int = 1, full: dict[str, Any] | None = None) -> Any:
    return {"range": r, "fullRange": full or r, "message": message, "severity": severity, "source": "Lean 4"}


def pos_params(line: int, character: int, uri: str = URI) -> dict[str, Any]:
    return {"textDocument": {"uri": uri}, "position": {"line": line, "character": character}}


def methods(w: LeanWire) -> list[str]:
    return [m.get("method", "<response>") for m in w.messages]


@pytest.fixture
async def spawn(tmp_path: Path) -> AsyncIterator[Spawn]:
    started: list[LeanWire] = []

    async def _spawn(*knobs: str, script: dict[str, Any] | None = None, init: bool = True) -> LeanWire:
        path = tmp_path / "script.json"
        path.write_text(json.dumps(script or SCRIPT, ensure_ascii=False), encoding="utf-8")
        w = await LeanWire.spawn(path, "--state-dir", str(tmp_path / "state"), *knobs)
        started.append(w)
        if init:
            await w.initialize(rid="init")
        return w

    yield _spawn
    for w in started:
        await w.close()


def state(tmp_path: Path, name: str) -> list[str]:
    p = tmp_path / "state" / name
    return p.read_text(encoding="utf-8").splitlines() if p.exists() else []


# ---------------------------------------------------------------------------------------------
# Startup, framing, lifecycle


async def test_initialize_result_register_watcher_and_framing(spawn: Spawn, tmp_path: Path) -> None:
    w = await spawn(init=False)
    resp = await w.initialize(rid=7)
    assert resp == {"id": 7, "jsonrpc": "2.0", "result": EXPECTED_INIT_RESULT}
    reg = await w.wait_for(lambda m: m.get("method") == "client/registerCapability")
    assert reg == EXPECTED_REGISTER
    await w.open(URI, "theorem two_eq_two : 2 = 2 := by\n  rfl\n")
    await w.wait_diagnostics(URI, 1)
    for f in w.frames:  # exact Lean framing: one header, compact JSON with sorted keys
        assert f.header == b"Content-Length: %d\r\n\r\n" % len(f.body)
        canonical = json.dumps(f.msg, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        assert f.body == canonical.encode("utf-8")
    assert state(tmp_path, "starts.log") == [str(w.proc.pid)]
    assert json.loads(state(tmp_path, "received.jsonl")[0])["method"] == "initialize"


async def test_reader_accepts_extra_headers_and_rejects_malformed(spawn: Spawn) -> None:
    w = await spawn(init=False)
    body = json.dumps({"id": 0, "jsonrpc": "2.0", "method": "initialize", "params": {"capabilities": {}}})
    ct = b"Content-Type: application/vscode-jsonrpc; charset=utf-8\r\n"
    await w.send_raw(b"Content-Length: %d\r\n" % len(body) + ct + b"\r\n" + body.encode())
    await w.wait_for(lambda m: m.get("id") == 0 and "result" in m)
    await w.send_raw(b"this is no header\r\n\r\n")
    assert await w.wait_exit() == 1
    assert "malformed header" in w.stderr_text


def test_expected_init_result_matches_reference() -> None:
    if not REFERENCE.exists():
        pytest.skip("protocol reference not available")
    m = re.search(r"### 3\.2.*?```json\n(.*?)\n```", REFERENCE.read_text(encoding="utf-8"), re.S)
    assert m and json.loads(m.group(1))["result"] == EXPECTED_INIT_RESULT


async def test_first_message_must_be_initialize(spawn: Spawn, tmp_path: Path) -> None:
    w = await spawn(init=False)
    await w.open(URI, "")
    assert await w.wait_exit() == 1
    assert "initialize" in w.stderr_text
    assert len(state(tmp_path, "violations.log")) == 1


async def test_did_open_before_initialized_is_violation(spawn: Spawn, tmp_path: Path) -> None:
    w = await spawn(init=False)
    await w.initialize(initialized=False)
    await w.open(URI, "")
    assert await w.wait_exit() == 1
    (line,) = state(tmp_path, "violations.log")
    assert "initialized" in line and "textDocument/didOpen" in line
    assert "PROTOCOL VIOLATION" in w.stderr_text


async def test_start_delay(spawn: Spawn) -> None:
    w = await spawn("--start-delay-ms", "300", init=False)
    t0 = time.monotonic()
    await w.initialize()
    assert time.monotonic() - t0 >= 0.25


async def test_shutdown_then_requests_rejected_and_exit(spawn: Spawn) -> None:
    w = await spawn()
    assert (await w.call("shutdown"))["result"] is None
    resp = await w.call("$/lean/plainGoal", pos_params(0, 0))
    assert resp["error"] == {"code": -32600, "message": "Request received after 'shutdown' request."}
    await w.notify("exit")
    assert await w.wait_exit() == 0


async def test_stdin_eof_exits_zero(spawn: Spawn) -> None:
    w = await spawn()
    assert w.proc.stdin is not None
    w.proc.stdin.close()
    assert await w.wait_exit() == 0


async def test_unknown_request_and_notifications(spawn: Spawn) -> None:
    w = await spawn()
    resp = await w.call("textDocument/hover", {})
    assert resp["error"] == {"code": -32601, "message": "No request handler found for 'textDocument/hover'"}
    await w.notify("$/lean/someThing", {})
    await w.notify("$/setTrace", {"value": "off"})
    await w.notify("workspace/didChangeConfiguration", {"settings": {}})
    await w.call("shutdown")
    await w.notify("exit")
    assert await w.wait_exit() == 0
    assert w.stderr_text.strip() == "Got unsupported notification: workspace/didChangeConfiguration"


async def test_crash_after_requests(spawn: Spawn) -> None:
    w = await spawn("--crash-after-requests", "2")  # initialize is request 1
    fut = await w.request("textDocument/hover", {})
    assert await w.wait_exit() == 1
    assert not fut.done()


async def test_content_modified_requests(spawn: Spawn) -> None:
    w = await spawn("--content-modified-requests", "1")
    await w.open(URI, "theorem two_eq_two : 2 = 2 := by\n  sorry\n")
    refused = await w.plain_goal(URI, 1, 2)
    assert refused["error"] == {"code": -32801, "message": "File changed."}
    assert (await w.plain_goal(URI, 1, 2))["result"] == goals("⊢ 2 = 2")


async def test_garbage_after_requests_garbles_the_stream_and_keeps_running(spawn: Spawn) -> None:
    w = await spawn("--garbage-after-requests", "2")
    assert w.proc.stdout is not None
    w._tasks[0].cancel()  # read the raw bytes ourselves: LeanWire's reader cannot parse them
    with contextlib.suppress(asyncio.CancelledError):
        await w._tasks[0]
    await w.send({"id": 5, "jsonrpc": "2.0", "method": "textDocument/hover", "params": {}})
    raw = b""
    while b"No request handler" not in raw:
        raw += await asyncio.wait_for(w.proc.stdout.read(4096), 5)
    garbled = raw.index(b"\xff\xfe{not json")
    assert b"\x00garbage\r\n" in raw and garbled < raw.index(b"No request handler")
    assert w.proc.returncode is None  # still running: the client has to notice by itself


async def test_faults_first_start_only(spawn: Spawn, tmp_path: Path) -> None:
    first = await spawn("--crash-after-requests", "2", "--faults-first-start-only")
    await first.request("textDocument/hover", {})
    assert await first.wait_exit() == 1
    second = await spawn(
        "--crash-after-requests", "2", "--faults-first-start-only", "--start-delay-ms", "9000"
    )
    resp = await second.call("textDocument/hover", {})  # neither the delay nor the crash applies now
    assert resp["error"]["code"] == -32601
    assert len(state(tmp_path, "starts.log")) == 2


# ---------------------------------------------------------------------------------------------
# Server requests, id collision


async def test_id_collision_with_server_refresh_requests(spawn: Spawn, tmp_path: Path) -> None:
    w = await spawn("--latency-ms", "200")
    await w.open(URI, "theorem two_eq_two : 2 = 2 := by\n  rfl\n")
    goal = await w.request("$/lean/plainGoal", pos_params(1, 2))
    assert w.next_id == 1  # our request carries id 0
    resp = await asyncio.wait_for(goal, 5)
    assert resp == {"id": 0, "jsonrpc": "2.0", "result": goals(G22)}
    inlay = await w.wait_for(lambda m: m.get("method") == "workspace/inlayHint/refresh")
    sem = await w.wait_for(lambda m: m.get("method") == "workspace/semanticTokens/refresh")
    assert inlay == {"id": 0, "jsonrpc": "2.0", "method": "workspace/inlayHint/refresh"}
    assert sem == {"id": 1, "jsonrpc": "2.0", "method": "workspace/semanticTokens/refresh"}
    # the fake's request id 0 went out while our request id 0 was still pending
    assert w.messages.index(inlay) < w.messages.index(resp)
    await w.call("shutdown")
    received = [json.loads(x) for x in state(tmp_path, "received.jsonl")]
    answers = [m for m in received if "method" not in m]
    assert {json.dumps(m["id"]) for m in answers} == {'"register_lean_watcher"', "0", "1"}
    assert all(m["result"] is None for m in answers)
    assert "unknown server request" not in w.stderr_text


# ---------------------------------------------------------------------------------------------
# Documents: emission order, waitForDiagnostics


async def test_did_open_emission_order(spawn: Spawn) -> None:
    w = await spawn("--latency-ms", "50")
    text = "theorem two_eq_two : 2 = 2 := by\n  simp\n-- 𝓝𝓝"  # EOF after astral chars: UTF-16 column
    await w.open(URI, text, version=3)
    await w.wait_diagnostics(URI, 3)
    doc_methods = ("$/lean/fileProgress", "textDocument/publishDiagnostics")
    doc_msgs = [m for m in w.messages if m.get("method") in doc_methods]
    td = {"uri": URI, "version": 3}
    err = diag(rng(1, 2, 1, 6), "simp made no progress")
    assert [m["params"] for m in doc_msgs] == [
        {"processing": [{"kind": 1, "range": rng(0, 0, 2, 7)}], "textDocument": td},
        {"diagnostics": [], "uri": URI, "version": 3},
        {"processing": [], "textDocument": td},
        {"diagnostics": [err], "uri": URI, "version": 3},
        {"processing": [], "textDocument": td},
    ]
    refresh = ["workspace/inlayHint/refresh", "workspace/semanticTokens/refresh"]
    assert methods(w)[-3:] == [*refresh, "<response>"]


async def test_wait_for_diagnostics_only_after_final_diagnostics(spawn: Spawn) -> None:
    w = await spawn("--latency-ms", "200")
    await w.open(URI, "theorem two_eq_two : 2 = 2 := by\n  simp\n")
    fut = await w.request("textDocument/waitForDiagnostics", {"uri": URI, "version": 1})
    future_version = await w.request("textDocument/waitForDiagnostics", {"uri": URI, "version": 2})
    resp = await asyncio.wait_for(fut, 5)
    assert resp["result"] == {}
    final = next(p for p in w.published(URI, 1) if p["diagnostics"])
    idx = [m.get("params") for m in w.messages].index(final)
    assert idx < w.messages.index(resp)
    await asyncio.sleep(0.3)
    assert not future_version.done()  # version 2 was never sent
    await w.change(URI, 2, {"text": "theorem two_eq_two : 2 = 2 := by\n  rfl\n"})
    assert (await asyncio.wait_for(future_version, 5))["result"] == {}
    assert w.published(URI, 2)[-1]["diagnostics"] == []


async def test_rule_delay(spawn: Spawn) -> None:
    w = await spawn()
    t0 = time.monotonic()
    await w.open(URI, "example (n : ℕ) : n + 0 = n := by\n  omega\n")
    await w.wait_diagnostics(URI, 1)
    assert time.monotonic() - t0 >= 0.28
    assert (await w.plain_goal(URI, 1, 7))["result"] == goals()


async def test_header_change_simulates_restart(spawn: Spawn) -> None:
    w = await spawn("--header-ms", "500")
    body = "theorem two_eq_two : 2 = 2 := by\n  rfl\n"
    await w.open(URI, "import Mathlib\n" + body)
    await w.wait_diagnostics(URI, 1)
    t0 = time.monotonic()
    await w.change(URI, 2, {"range": rng(2, 2, 2, 5), "text": "decide"})  # body edit: no restart
    await w.wait_diagnostics(URI, 2)
    assert time.monotonic() - t0 < 0.45
    t0 = time.monotonic()
    await w.change(URI, 3, {"range": rng(0, 7, 0, 14), "text": "Aesop"})  # import edit: restart
    await w.wait_diagnostics(URI, 3)
    assert time.monotonic() - t0 >= 0.45


# ---------------------------------------------------------------------------------------------
# Diagnostics


async def test_diagnostics_catalogue(spawn: Spawn) -> None:
    w = await spawn()
    lines = [
        "theorem two_eq_two : 2 = 2 := by",  # 0
        "  simp",
        "",
        "theorem two_eq_two : 2 = 2 := by",  # 3
        "  rfl",
        "  sorry",
        "",
        "example (n : ℕ) : n + 0 = n := by",  # 7
        "  induction n",
        "  sorry  -- close the first case",
        "",
        "theorem two_eq_two : 2 = 2 := by",  # 11
        "  foo_bar",
        "  rfl",
        "",
        "theorem mystery : 1 = 1 := by",  # 15
        "  rfl",
        "",
        "theorem two_eq_two : 2 = 2 := by",  # 18
        "  linarith",
        "",
        "theorem two_eq_two : 2 = 2 := by",  # 21
        "  sorry",
        "",
        "theorem two_eq_two : 2 = 2 := by",  # 24
        "",
    ]
    await w.open(URI, "\n".join(lines))
    await w.wait_diagnostics(URI, 1)
    by7 = lines[7].index("by")
    unsolved = {
        **diag(rng(7, by7, 8, 0), "unsolved goals\n" + SUCC, full=rng(7, by7, 9, 7)),
        "leanTags": [1],
    }
    assert w.published(URI, 1)[-1]["diagnostics"] == [
        diag(rng(1, 2, 1, 6), "simp made no progress"),
        diag(rng(5, 2, 5, 7), "No goals to be solved"),
        unsolved,  # no "declaration uses `sorry`" with it: `addDecl` warns only without errors
        diag(rng(12, 2, 12, 9), "unknown tactic"),
        diag(rng(15, 8, 15, 15), "unknown declaration in fake Lean script: mystery"),
        diag(rng(19, 2, 19, 10), "fake Lean: no rule for tactic 'linarith' on this goal"),
        diag(rng(21, 8, 21, 18), "declaration uses `sorry`", severity=2),
        diag(rng(25, 0, 25, 0), "unexpected end of input; expected '{'"),
    ]
    expect = {
        (1, 2): goals(G22),  # failed tactic: state before it, at its start ...
        (1, 4): goals(G22),  # ... and inside it
        (5, 2): goals(),  # before the superfluous sorry: no goals
        (9, 2): goals(ZERO, SUCC),
        (9, 4): goals(SUCC),
        (12, 2): None,  # parse error
        (13, 2): None,  # after the parse error: not elaborated
        (16, 2): None,  # unknown declaration
        (24, 5): None,
    }
    for (line, char), want in expect.items():
        assert (await w.plain_goal(URI, line, char))["result"] == want, (line, char)


async def test_unsolved_goals_utf16_and_truncated_range(spawn: Spawn) -> None:
    w = await spawn()
    have = "have h : (𝓝 0).foo := rfl"
    await w.open(URI, f"{NHDS_DECL}\n  {have}\n\n  exact (𝓝 0).bar\n")
    await w.wait_diagnostics(URI, 1)
    by = u16(NHDS_DECL) - 2
    assert by == len(NHDS_DECL) - 2 + 1  # one astral char before `by`
    (err,) = w.published(URI, 1)[-1]["diagnostics"]
    assert err == diag(rng(3, 2, 3, 2 + u16("exact (𝓝 0).bar")), "bar failed on 𝓝")
    # now without the failing tactic: unsolved goals at `by`, range truncated, fullRange to the block's end
    await w.change(URI, 2, {"range": rng(2, 0, 4, 0), "text": ""})
    await w.wait_diagnostics(URI, 2)
    (err,) = w.published(URI, 2)[-1]["diagnostics"]
    assert err == {
        **diag(rng(0, by, 1, 0), "unsolved goals\n" + NH1, full=rng(0, by, 1, 2 + u16(have))),
        "leanTags": [1],
    }


# ---------------------------------------------------------------------------------------------
# plainGoal positions


async def test_plain_goal_before_after_utf16_and_blank_lines(spawn: Spawn) -> None:
    w = await spawn()
    have = "have h : (𝓝 0).foo := rfl"
    text = f"{NHDS_DECL}\n\n  {have}  -- 𝓝 note\n\n  exact h.tendsto\n"
    await w.open(URI, text)
    await w.wait_diagnostics(URI, 1)
    assert w.published(URI, 1)[-1]["diagnostics"] == []
    line2 = text.split("\n")[2]
    expect = {
        (0, 10): None,  # declaration header
        (0, u16(NHDS_DECL)): None,  # end of the `by` line
        (1, 0): None,  # blank line before the first tactic
        (2, 0): None,  # indentation before the first tactic
        (2, 2): goals(NH0),  # at the start of `have`: state before
        (2, 3): goals(NH1),  # inside: state after
        (2, 2 + u16(have)): goals(NH1),  # right after the tactic (UTF-16 column)
        (2, u16(line2)): goals(NH1),  # end of line, after the comment
        (3, 0): goals(NH1),  # blank line inside the block: trailing whitespace of `have`
        (4, 1): goals(NH1),
        (4, 2): goals(NH1),  # at the start of `exact`: state before it
        (4, 3): goals(),  # inside `exact`: no goals
        (5, 0): goals(),  # EOF, trailing whitespace of the last tactic
    }
    for (line, char), want in expect.items():
        assert (await w.plain_goal(URI, line, char))["result"] == want, (line, char)
    term = await w.call("$/lean/plainTermGoal", pos_params(2, 3))
    assert term["result"] is None


# ---------------------------------------------------------------------------------------------
# Edits


async def test_incremental_and_full_changes(spawn: Spawn, tmp_path: Path) -> None:
    w = await spawn()
    await w.open(URI, f"{NHDS_DECL}\n  have h : (𝓝 0).bar := rfl\n", version=5)
    await w.wait_diagnostics(URI, 5)
    (err,) = w.published(URI, 5)[-1]["diagnostics"]
    assert err["message"] == "fake Lean: no rule for tactic 'have h : (𝓝 0).bar := rfl' on this goal"
    assert err["fullRange"] == rng(1, 2, 1, 2 + u16("have h : (𝓝 0).bar := rfl"))
    col = u16("  have h : (𝓝 0).")
    eol = u16("  have h : (𝓝 0).foo := rfl")
    # two changes applied in order, UTF-16 columns after 𝓝: `bar` -> `foo`, then append a tactic
    await w.change(
        URI,
        6,
        {"range": rng(1, col, 1, col + 3), "text": "foo"},
        {"range": rng(1, eol, 1, eol), "text": "\n  exact h.tendsto"},
    )
    await w.wait_diagnostics(URI, 6)
    assert w.published(URI, 6)[-1]["diagnostics"] == []
    assert (await w.plain_goal(URI, 1, 4))["result"] == goals(NH1)
    assert (await w.plain_goal(URI, 2, 4))["result"] == goals()
    await w.change(URI, 7, {"text": "theorem two_eq_two : 2 = 2 := by\r\n  decide\r\n"})  # full text, CRLF
    await w.wait_diagnostics(URI, 7)
    assert w.published(URI, 7)[-1]["diagnostics"] == []
    assert (await w.plain_goal(URI, 1, 8))["result"] == goals()
    prog = [m["params"] for m in w.messages if m.get("method") == "$/lean/fileProgress"]
    assert prog[-3]["processing"] == [{"kind": 1, "range": rng(0, 0, 2, 0)}]  # LF-only text
    assert state(tmp_path, "violations.log") == []


async def test_content_modified_on_change_during_latency(spawn: Spawn) -> None:
    w = await spawn("--latency-ms", "300")
    await w.open(URI, "theorem two_eq_two : 2 = 2 := by\n  simp\n")
    stale = await w.request("$/lean/plainGoal", pos_params(1, 2))
    stale_wait = await w.request("textDocument/waitForDiagnostics", {"uri": URI, "version": 1})
    await asyncio.sleep(0.05)
    await w.change(URI, 2, {"range": rng(1, 2, 1, 6), "text": "rfl"})
    for fut in (stale, stale_wait):
        assert (await asyncio.wait_for(fut, 5))["error"] == {"code": -32801, "message": "File changed."}
    assert (await w.plain_goal(URI, 1, 3))["result"] == goals()
    assert w.published(URI, 1) == [{"diagnostics": [], "uri": URI, "version": 1}]  # v1 never finished


async def test_closed_and_unopened_uri(spawn: Spawn) -> None:
    w = await spawn("--latency-ms", "300")
    other = "file:///proj/Other.lean"
    resp = await w.plain_goal(other, 0, 0)
    assert resp["error"] == {"code": -32801, "message": f"Cannot process request to closed file '{other}'"}
    await w.open(URI, "theorem two_eq_two : 2 = 2 := by\n  rfl\n", version=4)
    pending = await w.request("textDocument/waitForDiagnostics", {"uri": URI, "version": 4})
    await w.notify("textDocument/didClose", {"textDocument": {"uri": URI}})
    resp = await asyncio.wait_for(pending, 5)
    assert resp["error"] == {"code": -32801, "message": f"The file worker for {URI} has been terminated."}
    await w.wait_until(lambda: len(w.published(URI)) == 2)
    assert w.published(URI) == [{"diagnostics": [], "uri": URI, "version": 4}] * 2
    resp = await w.wait_diagnostics(URI, 4)
    assert resp["error"]["message"] == f"Cannot process request to closed file '{URI}'"


async def test_cancel_request(spawn: Spawn) -> None:
    w = await spawn("--latency-ms", "500")
    await w.open(URI, "theorem two_eq_two : 2 = 2 := by\n  rfl\n")
    fut = await w.request("$/lean/plainGoal", pos_params(1, 2))
    await w.notify("$/cancelRequest", {"id": 0})
    assert (await asyncio.wait_for(fut, 5))["error"] == {"code": -32800, "message": ""}
    await w.notify("$/cancelRequest", {"id": 99})  # unknown id: ignored
    assert (await w.wait_diagnostics(URI, 1))["result"] == {}


async def test_hang_then_recover(spawn: Spawn) -> None:
    w = await spawn()
    await w.open(URI, "theorem two_eq_two : 2 = 2 := by\n  aesop_hang\n")
    wait1 = await w.request("textDocument/waitForDiagnostics", {"uri": URI, "version": 1})
    goal1 = await w.request("$/lean/plainGoal", pos_params(1, 2))
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(asyncio.shield(wait1), 0.3)
    assert not goal1.done()
    progress = [m["params"]["processing"] for m in w.messages if m.get("method") == "$/lean/fileProgress"]
    assert len(progress) == 1 and progress[0]
    await w.change(URI, 2, {"range": rng(1, 2, 1, 12), "text": "rfl"})
    assert (await asyncio.wait_for(wait1, 5))["error"]["code"] == -32801
    assert (await asyncio.wait_for(goal1, 5))["error"]["code"] == -32801
    assert (await w.wait_diagnostics(URI, 2))["result"] == {}
    assert (await w.plain_goal(URI, 1, 3))["result"] == goals()


async def test_crash_tactic_kills_process(spawn: Spawn) -> None:
    w = await spawn()
    await w.open(URI, "theorem two_eq_two : 2 = 2 := by\n  crash_lean\n")
    fut = await w.request("textDocument/waitForDiagnostics", {"uri": URI, "version": 1})
    assert await w.wait_exit() == 1
    assert "fake lean: crash" in w.stderr_text
    assert not fut.done()


async def test_protocol_violations_logged(spawn: Spawn, tmp_path: Path) -> None:
    w = await spawn()
    text = "theorem two_eq_two : 2 = 2 := by\n  rfl\n"
    await w.open(URI, text, version=1, mode=None)  # missing dependencyBuildMode
    await w.change(URI, 1, {"text": text})  # version does not increase
    await w.change("file:///proj/Nope.lean", 1, {"text": ""})  # unopened
    await w.open(URI, text, version=2)  # already open
    await w.notify("textDocument/didClose", {"textDocument": {"uri": URI}})
    await w.open(URI, text, version=1)  # reopen with a lower version
    assert (await w.wait_diagnostics(URI, 1))["result"] == {}
    v = state(tmp_path, "violations.log")
    assert len(v) == 5, v
    assert "dependencyBuildMode" in v[0]
    assert "does not increase" in v[1] and "does not increase" in v[4]
    assert "unopened" in v[2] and "Nope.lean" in v[2]
    assert "already open" in v[3]
    assert w.stderr_text.count("PROTOCOL VIOLATION") == 5
    received = [json.loads(x) for x in state(tmp_path, "received.jsonl")]
    opens = [m["params"] for m in received if m.get("method") == "textDocument/didOpen"]
    assert [p.get("dependencyBuildMode") for p in opens] == [None, "never", "never"]


# ---------------------------------------------------------------------------------------------
# Pure helpers


def test_utf16_helpers() -> None:
    line = "a𝓝b ℕ⊢"
    assert elab.utf16_len(line) == u16(line) == 7
    assert [elab.cp_to_utf16(line, i) for i in range(len(line) + 1)] == [0, 1, 3, 4, 5, 6, 7]
    assert [elab.utf16_to_cp(line, c) for c in range(9)] == [0, 1, 1, 2, 3, 4, 5, 6, 6]
    text = "x𝓝y\nzz"
    assert elab.apply_change(text, {"range": rng(0, 3, 1, 1), "text": "-"}) == "x𝓝-z"
    assert elab.apply_change(text, {"text": "a\r\nb"}) == "a\nb"
    assert elab.eof_position(text) == {"line": 1, "character": 2}
    assert elab.header_of("-- c\nimport A\n\nimport B\ntheorem x") == "import A\nimport B"


def test_parse_errors_and_failed_tactic_states() -> None:
    script = elab.Script.from_json(SCRIPT)
    text = "theorem two_eq_two : 2 = 2 := by\n  exact (foo\n"
    res = elab.elaborate(text, script)
    assert [d["message"] for d in res.diagnostics] == ["unexpected end of input; expected ')'"]
    assert elab.plain_goal(res, text, 1, 2) is None
    text = "theorem two_eq_two : 2 = 2 := by\n  simp\n  rfl\n"
    res = elab.elaborate(text, script)
    assert elab.plain_goal(res, text, 1, 6) == goals(G22)  # trailing space of a failed tactic
    assert elab.plain_goal(res, text, 2, 2) is None  # after the first failure
    text = "theorem two_eq_two : 2 = 2 := by\ntheorem x : y := by\n  rfl\n"
    res = elab.elaborate(text, script)
    assert res.diagnostics[0]["message"] == "expected '{' or tactic"
    assert res.diagnostics[0]["range"] == rng(1, 0, 1, 0)


PQ = "p q : Prop\nhp : p\nhq : q\n"
STRUCTURE: dict[str, Any] = {
    "declarations": {"and_swap": [PQ + "⊢ q ∧ p"], "chain": ["a b : ℕ\nh : a = b\n⊢ a = b"]},
    "tactics": {
        PQ + "⊢ q ∧ p": {
            "constructor": ["case left\n" + PQ + "⊢ q", "case right\n" + PQ + "⊢ p"],
            "have hp' : p := by": [PQ + "hp' : p\n⊢ q ∧ p"],
        },
        PQ + "⊢ p": {"exact hp": []},
        PQ + "⊢ q": {"exact hq": []},
        "a b : ℕ\nh : a = b\n⊢ a = b": {"calc a = b := by": [], "exact h": []},
        "a b : ℕ\nh : a = b\n⊢ a = a": {"rfl": []},
    },
    "nested": {
        "have hp' : p := by": [PQ + "⊢ p"],
        "calc a = b := by": ["a b : ℕ\nh : a = b\n⊢ a = a"],
        "_ = b := by": ["a b : ℕ\nh : a = b\n⊢ a = b"],
    },
}


def test_case_and_next_focus_a_goal_and_clear_its_tag() -> None:
    script = elab.Script.from_json(STRUCTURE)
    head = "theorem and_swap (p q : Prop) (hp : p) (hq : q) : q ∧ p := by\n  constructor\n"
    text = head + "  case right =>\n    sorry\n  next => exact hq\n"
    res = elab.elaborate(text, script)
    assert elab.plain_goal(res, text, 3, 4) == goals(PQ + "⊢ p")  # the `right` goal, untagged
    assert [d["message"] for d in res.diagnostics] == ["declaration uses `sorry`"]
    text = head + "  case right => exact hq\n"
    res = elab.elaborate(text, script)
    assert "fake Lean: no rule for tactic 'exact hq'" in res.diagnostics[0]["message"]
    text = head + "  case middle => exact hq\n"
    res = elab.elaborate(text, script)
    assert res.diagnostics[0]["message"] == "Case tag 'middle' not found."
    text = head + "  next =>\n    exact hq\n"  # the other goal is left
    res = elab.elaborate(text, script)
    assert [d["message"].split("\n")[0] for d in res.diagnostics] == ["unsolved goals"]
    assert res.diagnostics[0]["message"].endswith("⊢ p")


def test_a_nested_by_block_has_its_own_goals_and_unsolved_goals() -> None:
    script = elab.Script.from_json(STRUCTURE)
    head = "theorem and_swap (p q : Prop) (hp : p) (hq : q) : q ∧ p := by\n  have hp' : p := by\n"
    text = head + "    sorry\n  sorry\n"
    res = elab.elaborate(text, script)
    assert elab.plain_goal(res, text, 2, 4) == goals(PQ + "⊢ p")
    assert elab.plain_goal(res, text, 3, 2) == goals(PQ + "hp' : p\n⊢ q ∧ p")
    text = head + "    exact hp\n    sorry\n  sorry\n"
    res = elab.elaborate(text, script)
    assert elab.plain_goal(res, text, 2, 12) == {"goals": [], "rendered": "no goals"}
    assert [d["message"] for d in res.diagnostics] == ["No goals to be solved"]
    assert res.diagnostics[0]["range"]["start"] == {"line": 3, "character": 4}


def test_calc_steps_open_blocks_and_are_not_tactics() -> None:
    script = elab.Script.from_json(STRUCTURE)
    text = "theorem chain (a b : ℕ) (h : a = b) : a = b := by\n  calc a = b := by\n      sorry\n"
    text += "    _ = b := by\n      exact h\n"
    res = elab.elaborate(text, script)
    assert elab.plain_goal(res, text, 2, 6) == goals("a b : ℕ\nh : a = b\n⊢ a = a")
    assert elab.plain_goal(res, text, 4, 6) == goals("a b : ℕ\nh : a = b\n⊢ a = b")
    assert [d["message"] for d in res.diagnostics] == ["declaration uses `sorry`"]


def test_decl_latency_model_counts_what_a_worker_re_elaborates() -> None:
    """--decl-ms: the declaration holding the first edited line and every later one, not earlier ones."""
    text = "\n".join(
        [
            "import M",
            "",
            "theorem a : 1 = 1 := by",
            "  rfl",
            "",
            "theorem b : 2 = 2 := by",
            "  rfl",
            "",
            "theorem c : 3 = 3 := by",
            "  rfl",
        ]
    )
    assert elab.declarations_from(text) == 3  # didOpen: all of them
    in_b = text.replace("theorem b : 2 = 2 := by\n  rfl", "theorem b : 2 = 2 := by\n  simp")
    assert elab.first_changed_line(text, in_b) == 6
    assert elab.declarations_from(in_b, 6) == 2  # b and c; a is reused
    in_c = text + "\n  -- more"
    assert elab.declarations_from(in_c, elab.first_changed_line(text, in_c)) == 1
    assert elab.declarations_from(text, elab.first_changed_line(text, text)) == 0
