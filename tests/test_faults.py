"""Faults in our Lean server, injected through the fake: each time the user gets correct suggestions
again, no process is left behind, and no edit is ever proposed for text that has changed."""

from __future__ import annotations

import json
import os
import signal
from pathlib import Path

import pytest
from lsprotocol import types
from pytest_lsp import LanguageClient

from llmstep_lsp.lsp.methods import STATUS_NOTIFICATION
from tests.lsp_helpers import (
    TWO_EQ_TWO_TACTICS,
    TWO_EQ_TWO_TITLES,
    code_actions_at,
    edit_of,
    open_examples,
    proof_line,
    start_session,
)
from tests.support.processes import alive, sidecar_of, wait_until_none_mention

pytestmark = pytest.mark.e2e


@pytest.fixture
def client(client: LanguageClient) -> LanguageClient:
    """The shared client (`tests/support/lsp_client.py`), recording each `llmstep/status` state."""
    statuses: list[str] = []
    client.statuses = statuses  # type: ignore[attr-defined]

    @client.feature(STATUS_NOTIFICATION)
    def on_status(params) -> None:  # type: ignore[no-untyped-def]
        statuses.append(params.state)

    return client


def starts(state: Path) -> list[int]:
    path = state / "starts.log"
    return [int(pid) for pid in path.read_text().split()] if path.exists() else []


def received(state: Path) -> list[dict]:  # type: ignore[type-arg]
    path = state / "received.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def lean_text(state: Path, uri: str) -> str:
    """The text Lean holds for `uri`: the last didOpen or (full) didChange of it."""
    text = ""
    for message in received(state):
        params = message.get("params") or {}
        if message.get("method") == "textDocument/didOpen" and params["textDocument"]["uri"] == uri:
            text = params["textDocument"]["text"]
        elif message.get("method") == "textDocument/didChange" and params["textDocument"]["uri"] == uri:
            text = params["contentChanges"][-1]["text"]
    return text


async def suggestions(client: LanguageClient, uri: str, line: int, version: int) -> list[str]:
    """Titles at `line`; every proposed edit must be for `version`, the document's current one."""
    actions = await code_actions_at(client, uri, line, 2)
    for action in actions:
        assert edit_of(action)[1] == version, f"stale edit: {action.title} for an older version"
    return [a.title for a in actions]


def edit_document(client: LanguageClient, uri: str, version: int, text: str) -> None:
    client.text_document_did_change(
        types.DidChangeTextDocumentParams(
            text_document=types.VersionedTextDocumentIdentifier(uri=uri, version=version),
            content_changes=[types.TextDocumentContentChangeWholeDocument(text=text)],
        )
    )


async def shut_down_and_check_no_orphan(client: LanguageClient, state: Path) -> None:
    await client.shutdown_session()
    client.shut_down_by_test = True  # type: ignore[attr-defined]
    assert wait_until_none_mention(str(state)) == [], "a Lean server outlived the sidecar's shutdown"


@pytest.mark.parametrize(
    "fault",
    [
        pytest.param(["--crash-after-requests", "5"], id="crash-mid-verification"),
        pytest.param(["--crash-after-requests", "2"], id="crash-on-goal-read"),
        pytest.param(["--garbage-after-requests", "5"], id="garbage-mid-verification"),
        pytest.param(["--garbage-after-requests", "2"], id="garbage-on-goal-read"),
    ],
)
async def test_a_lean_server_that_crashes_or_garbles_is_replaced(
    client: LanguageClient, lean_project: Path, fake_state: Path, fault: list[str]
) -> None:
    await start_session(
        client,
        lean_project,
        fake_state,
        *fault,
        "--faults-first-start-only",
        model="",
        automationTactics=TWO_EQ_TWO_TACTICS,
    )
    text, uri = open_examples(client, lean_project)
    line = proof_line(text, "two_eq_two", 1)
    titles = await suggestions(client, uri, line, 1)
    if titles != TWO_EQ_TWO_TITLES:
        # The fault hit this computation and lost candidates: asking again must give everything.
        titles = await suggestions(client, uri, line, 1)
    assert titles == TWO_EQ_TWO_TITLES
    first, *others = starts(fake_state)
    assert len(others) == 1, "exactly one restart"
    assert not alive(first), "the broken server was killed, not left running"
    # The replacement serves edits too, with edits for the new version only.
    edit_document(client, uri, 2, text + "\n-- edited\n")
    assert await suggestions(client, uri, line, 2) == TWO_EQ_TWO_TITLES
    await shut_down_and_check_no_orphan(client, fake_state)


async def test_a_lean_server_killed_by_a_signal_is_replaced(
    client: LanguageClient, lean_project: Path, fake_state: Path
) -> None:
    await start_session(client, lean_project, fake_state, model="", automationTactics=TWO_EQ_TWO_TACTICS)
    text, uri = open_examples(client, lean_project)
    line = proof_line(text, "two_eq_two", 1)
    assert await suggestions(client, uri, line, 1) == TWO_EQ_TWO_TITLES
    os.kill(starts(fake_state)[0], signal.SIGKILL)
    # The user goes on typing; the sidecar notices the dead server on the next request.
    edit_document(client, uri, 2, text + "\n-- after the kill\n")
    assert await suggestions(client, uri, line, 2) == TWO_EQ_TWO_TITLES
    assert len(starts(fake_state)) == 2
    # The new server holds the user's current text, not the old one.
    assert lean_text(fake_state, uri).endswith("-- after the kill\n")
    await shut_down_and_check_no_orphan(client, fake_state)


async def test_a_hung_lean_server_is_restarted(
    client: LanguageClient, lean_project: Path, fake_state: Path
) -> None:
    """SIGSTOP: the server is there but answers nothing, the way a wedged `lake serve` looks."""
    await start_session(
        client, lean_project, fake_state, model="", automationTactics=TWO_EQ_TWO_TACTICS, goalTimeoutS=1.5
    )
    text, uri = open_examples(client, lean_project)
    line = proof_line(text, "two_eq_two", 1)
    assert await suggestions(client, uri, line, 1) == TWO_EQ_TWO_TITLES
    hung = starts(fake_state)[0]
    os.kill(hung, signal.SIGSTOP)
    try:
        other = proof_line(text, "add_zero_nat", 1)
        # Goal reads time out; after two in a row the server counts as hung and is replaced.
        for version in (2, 3, 4):
            edit_document(client, uri, version, text + "\n" * version)
            titles = await suggestions(client, uri, other, version)
            if titles:
                break
        assert titles[:1] == ["Try this: rfl (closes goal)"]
        assert len(starts(fake_state)) == 2
        assert not alive(hung)
    finally:
        if alive(hung):
            os.kill(hung, signal.SIGKILL)
    await shut_down_and_check_no_orphan(client, fake_state)


async def test_a_lean_server_too_slow_to_start_once_is_retried_quietly(
    client: LanguageClient, lean_project: Path, fake_state: Path
) -> None:
    await start_session(
        client,
        lean_project,
        fake_state,
        "--start-delay-ms",
        "4000",
        "--faults-first-start-only",
        model="",
        automationTactics=TWO_EQ_TWO_TACTICS,
        leanStartTimeoutS=1,
    )
    text, uri = open_examples(client, lean_project)
    line = proof_line(text, "two_eq_two", 1)
    # Opening the file started a server that did not answer in time; one failure is retried at
    # once (processes/restarts.py), fast enough this time: nothing to tell the user.
    assert await suggestions(client, uri, line, 1) == TWO_EQ_TWO_TITLES
    assert [m.message for m in client.messages if m.type == types.MessageType.Error] == []
    assert client.statuses[-1] == "ready"  # type: ignore[attr-defined]
    assert len(starts(fake_state)) == 2
    assert not alive(starts(fake_state)[0])
    await shut_down_and_check_no_orphan(client, fake_state)


async def test_no_lean_server_outlives_a_killed_sidecar(
    client: LanguageClient, lean_project: Path, fake_state: Path
) -> None:
    await start_session(client, lean_project, fake_state, model="", automationTactics=TWO_EQ_TWO_TACTICS)
    text, uri = open_examples(client, lean_project)
    assert await suggestions(client, uri, proof_line(text, "two_eq_two", 1), 1) == TWO_EQ_TWO_TITLES
    lean = starts(fake_state)[0]
    sidecar = sidecar_of(lean)
    assert sidecar is not None and alive(sidecar)
    os.kill(sidecar, signal.SIGKILL)
    client.shut_down_by_test = True  # type: ignore[attr-defined]
    assert wait_until_none_mention(str(fake_state)) == [], "the Lean server outlived a SIGKILLed sidecar"


async def test_after_recovery_asking_again_at_the_same_place_gives_suggestions(
    client: LanguageClient, lean_project: Path, fake_state: Path
) -> None:
    """A failure is not an answer: it is not cached for the (unchanged) text."""
    await start_session(
        client, lean_project, fake_state, model="", automationTactics=TWO_EQ_TWO_TACTICS, goalTimeoutS=1.5
    )
    text, uri = open_examples(client, lean_project)
    line = proof_line(text, "two_eq_two", 1)
    other = proof_line(text, "add_zero_nat", 1)
    await code_actions_at(client, uri, proof_line(text, "exercise_1_18b", 2), 2)  # Lean runs
    hung = starts(fake_state)[0]
    os.kill(hung, signal.SIGSTOP)
    try:
        assert await suggestions(client, uri, line, 1) == []  # Lean does not answer
        assert await suggestions(client, uri, other, 1) == []  # twice: it is replaced
    finally:
        if alive(hung):
            os.kill(hung, signal.SIGKILL)
    assert len(starts(fake_state)) == 2
    assert await suggestions(client, uri, line, 1) == TWO_EQ_TWO_TITLES
    await shut_down_and_check_no_orphan(client, fake_state)
