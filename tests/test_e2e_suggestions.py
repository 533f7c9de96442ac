"""End to end through the real server process: fake Lean over stdio, a tiny model from disk."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
import pytest_lsp
from lsprotocol import types
from pytest_lsp import LanguageClient

from llmstep_lsp.protocol import STATUS_NOTIFICATION
from tests.conftest import project_files
from tests.lsp_helpers import (
    SERVER_CONFIG,
    code_actions_at,
    edit_of,
    inline_at,
    open_document,
    proof_line,
    start_session,
)

pytestmark = pytest.mark.e2e


@pytest_lsp.fixture(config=SERVER_CONFIG)
async def client(lsp_client: LanguageClient):  # type: ignore[no-untyped-def]
    statuses: list[tuple[str, str]] = []
    lsp_client.statuses = statuses  # type: ignore[attr-defined]

    @lsp_client.feature(STATUS_NOTIFICATION)
    def on_status(params) -> None:  # type: ignore[no-untyped-def]
        statuses.append((params.state, params.message))

    yield
    if not getattr(lsp_client, "shut_down_by_test", False):
        await lsp_client.shutdown_session()


def received(state: Path) -> list[dict]:  # type: ignore[type-arg]
    path = state / "received.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def verified_candidates(state: Path) -> set[str]:
    """Every line Lean was asked about in a shadow document (what the verifier tried)."""
    texts = set()
    for message in received(state):
        params = message.get("params") or {}
        if message.get("method") == "textDocument/didChange" and ".llmstep/" in params["textDocument"]["uri"]:
            for change in params["contentChanges"]:
                texts.update(line.strip() for line in change["text"].split("\n"))
        if message.get("method") == "textDocument/didOpen" and ".llmstep/" in params["textDocument"]["uri"]:
            texts.update(line.strip() for line in params["textDocument"]["text"].split("\n"))
    return texts


def assert_no_protocol_violation(state: Path) -> None:
    violations = state / "violations.log"
    assert not violations.exists() or not violations.read_text().strip(), violations.read_text()


async def test_only_verified_suggestions_closes_first(
    client: LanguageClient, lean_project: Path, fake_state: Path, tiny_model: Path
) -> None:
    before = project_files(lean_project)
    await start_session(client, lean_project, fake_state, model=tiny_model)
    path = lean_project / "Examples.lean"
    text = path.read_text()
    uri = open_document(client, path)
    line = proof_line(text, "monotone_step'", 2)  # the `sorry` after `intro h n`
    actions = await code_actions_at(client, uri, line, 2)

    titles = [a.title for a in actions]
    assert titles, "expected verified suggestions"
    allowed = {
        "Try this: exact h (Nat.le_succ _) (closes goal)",
        "Try this: exact h (Nat.le_succ n) (closes goal)",
        "Try this: apply h (1 goal left)",
    }
    assert set(titles) <= allowed, titles
    assert titles[0].endswith("(closes goal)")
    closing = [t.endswith("(closes goal)") for t in titles]
    assert closing == sorted(closing, reverse=True), "closing suggestions come first"
    assert [a.is_preferred for a in actions] == [True] + [False] * (len(actions) - 1)
    assert all(a.kind == types.CodeActionKind.QuickFix for a in actions)
    # The model-free tactics were checked by Lean on this goal, and rejected.
    tried = verified_candidates(fake_state)
    assert {"simp", "rfl", "omega"} <= tried
    assert not any(t.startswith(("Try this: simp", "Try this: rfl", "Try this: omega")) for t in titles)
    edit, version = edit_of(actions[0])
    assert version == 1
    assert edit.range == types.Range(
        start=types.Position(line=line, character=0), end=types.Position(line=line, character=len("  sorry"))
    )
    assert edit.new_text.startswith("  exact h (Nat.le_succ ")
    assert project_files(lean_project) == before, "the sidecar must never write the user's tree"
    assert client.statuses[-1] == ("ready", "")  # type: ignore[attr-defined]
    assert_no_protocol_violation(fake_state)


async def test_typed_prefix_is_respected_and_inline_completion_completes_it(
    client: LanguageClient, lean_project: Path, fake_state: Path, tiny_model: Path
) -> None:
    await start_session(client, lean_project, fake_state, model=tiny_model)
    path = lean_project / "Examples.lean"
    text = path.read_text()
    uri = open_document(client, path)
    line = proof_line(text, "monotone_step", 2)  # `  exact` (a parse error in real Lean)
    assert text.split("\n")[line] == "  exact"

    actions = await code_actions_at(client, uri, line, len("  exact"))
    assert actions
    assert all(a.title.startswith("Try this: exact ") for a in actions), [a.title for a in actions]
    assert "Try this: exact h (closes goal)" not in [a.title for a in actions]  # Lean rejects it
    edit, _ = edit_of(actions[0])
    assert edit.new_text in ("  exact h (Nat.le_succ _)", "  exact h (Nat.le_succ n)")

    # Asking again at the same version and line is served from the cache: Lean hears nothing.
    traffic = len(received(fake_state))
    completions = await inline_at(client, uri, line, len("  exact"))
    assert len(received(fake_state)) == traffic
    assert completions.items
    best = completions.items[0]
    assert best.insert_text == edit.new_text
    assert isinstance(best.insert_text, str) and best.insert_text.startswith("  exact")
    assert best.range == types.Range(
        start=types.Position(line=line, character=0), end=types.Position(line=line, character=len("  exact"))
    )
    assert_no_protocol_violation(fake_state)


@pytest.mark.parametrize(
    ("encodings", "units"),
    [
        (None, lambda s: len(s.encode("utf-16-le")) // 2),
        (["utf-8"], lambda s: len(s.encode("utf-8"))),
    ],
    ids=["utf-16", "utf-8"],
)
async def test_edit_ranges_count_columns_in_the_clients_encoding(
    client: LanguageClient,
    lean_project: Path,
    fake_state: Path,
    tiny_model: Path,
    encodings,
    units,  # type: ignore[no-untyped-def]
) -> None:
    await start_session(client, lean_project, fake_state, model=tiny_model, position_encodings=encodings)
    path = lean_project / "Examples.lean"
    text = path.read_text()
    uri = open_document(client, path)
    line = proof_line(text, "tendsto_self", 1)
    line_text = text.split("\n")[line]
    assert "𝓝" in line_text and units(line_text) != len(line_text)

    actions = await code_actions_at(client, uri, line, units(line_text))
    titles = [a.title for a in actions]
    assert titles == ["Try this: have h : Tendsto id (𝓝 x) (𝓝 x) := tendsto_id (1 goal left)"]
    edit, _ = edit_of(actions[0])
    assert edit.range.end == types.Position(line=line, character=units(line_text))
    assert edit.new_text == "  have h : Tendsto id (𝓝 x) (𝓝 x) := tendsto_id"


async def test_without_a_model_the_model_free_tactics_are_verified_and_said_once(
    client: LanguageClient, lean_project: Path, fake_state: Path
) -> None:
    await start_session(client, lean_project, fake_state, model="/nonexistent/llmstep-model")
    path = lean_project / "Examples.lean"
    text = path.read_text()
    uri = open_document(client, path)
    empty_line = proof_line(text, "add_zero_nat", 1)
    assert text.split("\n")[empty_line].strip() == ""

    actions = await code_actions_at(client, uri, empty_line, 0)
    titles = [a.title for a in actions]
    # The table says: rfl, simp, omega, norm_num, ring close it; decide, linarith, positivity fail.
    assert titles == [f"Try this: {t} (closes goal)" for t in ("rfl", "simp", "omega", "norm_num", "ring")]
    edit, _ = edit_of(actions[0])
    assert edit.new_text == "  rfl"  # the empty line gets the block's indentation

    # A second request elsewhere must not repeat the message.
    await code_actions_at(client, uri, proof_line(text, "two_eq_two", 1), 2)
    shown = [m.message for m in client.messages if "model" in m.message]
    assert len(shown) == 1, shown
    assert "/nonexistent/llmstep-model" in shown[0] and "Fix:" in shown[0]
    states = [state for state, _ in client.statuses]  # type: ignore[attr-defined]
    assert states[0] == "loading" and "working" in states
    assert client.statuses[-1] == ("error", shown[0])  # type: ignore[attr-defined]
    assert_no_protocol_violation(fake_state)


async def test_no_suggestion_where_lean_reports_no_tactic_goal(
    client: LanguageClient, lean_project: Path, fake_state: Path
) -> None:
    await start_session(client, lean_project, fake_state, model="")
    path = lean_project / "Examples.lean"
    text = path.read_text()
    uri = open_document(client, path)
    lines = text.split("\n")
    import_line = next(i for i, line in enumerate(lines) if line.startswith("import "))
    assert await code_actions_at(client, uri, import_line) == []
    statement = proof_line(text, "two_eq_two", 0)
    assert await code_actions_at(client, uri, statement) == []
    # A comment line between two proofs: text heuristics allow it, Lean says there is no goal.
    between = proof_line(text, "add_zero_nat", -1)
    assert lines[between].startswith("--")
    assert await code_actions_at(client, uri, between) == []


async def test_lean_crash_is_recovered(client: LanguageClient, lean_project: Path, fake_state: Path) -> None:
    import os
    import signal

    await start_session(client, lean_project, fake_state, model="")
    path = lean_project / "Examples.lean"
    text = path.read_text()
    uri = open_document(client, path)
    line = proof_line(text, "two_eq_two", 1)
    assert [a.title for a in await code_actions_at(client, uri, line, 2)][:1] == [
        "Try this: rfl (closes goal)"
    ]

    first_pid = int((fake_state / "starts.log").read_text().split()[0])
    os.kill(first_pid, signal.SIGKILL)
    # Ask about another line (not cached): the server must notice, restart Lean, reopen, answer.
    other = proof_line(text, "add_zero_nat", 1)
    titles = [a.title for a in await code_actions_at(client, uri, other, 0)]
    assert titles[:1] == ["Try this: rfl (closes goal)"]
    assert len((fake_state / "starts.log").read_text().split()) == 2
    assert_no_protocol_violation(fake_state)


async def test_capabilities_lean_language_id_and_clean_shutdown(
    client: LanguageClient, lean_project: Path, fake_state: Path
) -> None:
    import os

    result = await start_session(client, lean_project, fake_state, model="")
    capabilities = result.capabilities
    assert capabilities.inline_completion_provider is not None
    assert capabilities.code_action_provider is not None
    path = lean_project / "Examples.lean"
    text = path.read_text()
    uri = path.as_uri()
    client.text_document_did_open(
        types.DidOpenTextDocumentParams(
            text_document=types.TextDocumentItem(uri=uri, language_id="lean", version=7, text=text)
        )
    )  # Neovim ≥ 0.11 says "lean"
    line = proof_line(text, "two_eq_two", 1)
    actions = await code_actions_at(client, uri, line, 2)
    assert actions and edit_of(actions[0])[1] == 7
    pid = int((fake_state / "starts.log").read_text().split()[0])
    await client.shutdown_session()
    client.shut_down_by_test = True  # type: ignore[attr-defined]
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)


async def test_closing_suggestions_rank_above_earlier_valid_ones(
    client: LanguageClient, lean_project: Path, fake_state: Path
) -> None:
    await start_session(
        client, lean_project, fake_state, model="", automationTactics=["induction n", "decide", "rfl"]
    )
    path = lean_project / "Examples.lean"
    text = path.read_text()
    uri = open_document(client, path)
    actions = await code_actions_at(client, uri, proof_line(text, "add_zero_nat", 1), 0)
    assert [a.title for a in actions] == [
        "Try this: rfl (closes goal)",
        "Try this: induction n (2 goals left)",
    ]


@pytest.mark.parametrize(("model", "first"), [("", "ready"), ("tiny", "loading")], ids=["no-model", "model"])
async def test_first_status_is_announced_right_after_initialize(
    client: LanguageClient, lean_project: Path, fake_state: Path, tiny_model: Path, model: str, first: str
) -> None:
    """A status bar needs a first state before any suggestion: `ready` without a model, else `loading`."""
    await start_session(client, lean_project, fake_state, model=tiny_model if model else "")
    if not client.statuses:  # type: ignore[attr-defined]
        await asyncio.wait_for(client.wait_for_notification(STATUS_NOTIFICATION), timeout=20)
    assert client.statuses[0][0] == first  # type: ignore[attr-defined]
