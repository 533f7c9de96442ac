"""Lean sessions that restart: documents opened meanwhile, Lean servers that keep dying (back-off),
and how the user is told."""

from __future__ import annotations

import asyncio
import contextlib
import time
from pathlib import Path

import pytest
from lsprotocol import types
from pytest_lsp import LanguageClient

from tests.conftest import fake_lean_command
from tests.lsp_helpers import (
    TWO_EQ_TWO_TACTICS,
    TWO_EQ_TWO_TITLES,
    code_actions_at,
    open_document,
    open_examples,
    proof_line,
    start_session,
)
from tests.support.processes import wait_until_none_mention
from tests.test_e2e_repl import repl_command
from tests.test_e2e_repl import starts as repl_starts
from tests.test_faults import client, edit_document, lean_text, starts, suggestions

pytestmark = pytest.mark.e2e
__all__ = ["client"]  # the pytest-lsp fixture, shared with test_faults


async def wait_for_starts(state: Path, count: int, timeout_s: float = 30) -> None:
    """Until the fake Lean has been started `count` times (it logs each start before `initialize`)."""
    deadline = time.monotonic() + timeout_s
    while len(starts(state)) < count:
        assert time.monotonic() < deadline, f"{len(starts(state))} Lean starts, expected {count}"
        await asyncio.sleep(0.05)  # a file, no event to wait on: poll it


async def test_a_document_opened_while_the_session_restarts_reaches_lean(
    client: LanguageClient, lean_project: Path, fake_state: Path
) -> None:
    """Was `RuntimeError: dictionary changed size during iteration` in the edit's handler."""
    await start_session(client, lean_project, fake_state, model="", automationTactics=TWO_EQ_TWO_TACTICS)
    examples = lean_project / "Examples.lean"
    text = examples.read_text()
    uri = open_document(client, examples)
    other = lean_project / "Other.lean"
    other.write_text("theorem two_eq_two : 2 = 2 := by\n  sorry\n")
    open_document(client, other)
    line = proof_line(text, "two_eq_two", 1)
    assert await suggestions(client, uri, line, 1) == TWO_EQ_TWO_TITLES
    # A settings change restarts the session lazily; this Lean takes a while to answer `initialize`.
    slow = fake_lean_command(fake_state, "--start-delay-ms", "1500")
    client.workspace_did_change_configuration(
        types.DidChangeConfigurationParams(settings={"llmstep": {"leanCommand": slow}})
    )
    edit_document(client, uri, 2, text + "\n-- edited\n")  # starts the new session
    await wait_for_starts(fake_state, 2)
    third = lean_project / "Third.lean"
    third.write_text("theorem two_eq_two : 2 = 2 := by\n  sorry\n")
    third_uri = open_document(client, third)  # while the new session still starts
    assert await suggestions(client, uri, line, 2) == TWO_EQ_TWO_TITLES
    shown = [m.message for m in [*client.messages, *client.log_messages]]
    assert not [m for m in shown if "Error in server" in m or "changed size" in m], shown
    assert lean_text(fake_state, third_uri) == third.read_text()
    assert lean_text(fake_state, uri).endswith("-- edited\n")
    assert len(starts(fake_state)) == 2


async def keep_asking(client: LanguageClient, uri: str, line: int, stop: asyncio.Event) -> None:
    """A user moving the cursor about: a code-action request every 0.3 s (the user's pace) until
    `stop` is set. Never cancelled mid-request: the test client cannot take the late answer."""
    while not stop.is_set():
        await code_actions_at(client, uri, line, 2)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), 0.3)


def shown(client: LanguageClient, severity: types.MessageType) -> list[str]:
    return [m.message for m in client.messages if m.type == severity]


async def test_a_lean_that_keeps_dying_is_reported_once_and_not_restarted_in_a_loop(
    client: LanguageClient, lean_project: Path, fake_state: Path
) -> None:
    """Was: 47–52 starts in 40 s, no message, the status 'ready'."""
    await start_session(
        client,
        lean_project,
        fake_state,
        "--exit-after-initialized",
        "3",
        model="",
        automationTactics=TWO_EQ_TWO_TACTICS,
    )
    text, uri = open_examples(client, lean_project)
    stop = asyncio.Event()
    asking = asyncio.create_task(keep_asking(client, uri, proof_line(text, "two_eq_two", 1), stop))
    try:
        await asyncio.wait_for(client.wait_for_notification(types.WINDOW_SHOW_MESSAGE), 120)
        for _ in range(10):  # ten more requests while the back-off lasts
            assert await code_actions_at(client, uri, proof_line(text, "two_eq_two", 1), 2) == []
    finally:
        stop.set()
        await asking
    errors = shown(client, types.MessageType.Error)
    assert len(errors) == 1, client.messages
    # What Lean said last on stderr, and how to fix it.
    assert "fake lean: broken project, exiting with 3" in errors[0]
    assert "llmstep-lsp doctor" in errors[0]
    assert "failed 3 times in a row" in errors[0]
    assert client.statuses[-1] == "error"  # type: ignore[attr-defined]
    assert 3 <= len(starts(fake_state)) <= 5, "restarted in a loop"
    await client.shutdown_session()
    client.shut_down_by_test = True  # type: ignore[attr-defined]
    assert await asyncio.to_thread(wait_until_none_mention, str(fake_state)) == []


async def test_fixing_lean_toolchain_restarts_at_once_and_clears_the_error(
    client: LanguageClient, lean_project: Path, fake_state: Path
) -> None:
    toolchain = lean_project / "lean-toolchain"
    fixed = toolchain.read_text()
    toolchain.write_text("leanprover/lean4:v0.0.0-broken\n")
    await start_session(
        client,
        lean_project,
        fake_state,
        "--exit-after-initialized",
        "1",
        "--broken-if-toolchain",
        "broken",
        model="",
        automationTactics=TWO_EQ_TWO_TACTICS,
    )
    text, uri = open_examples(client, lean_project)
    line = proof_line(text, "two_eq_two", 1)
    stop = asyncio.Event()
    asking = asyncio.create_task(keep_asking(client, uri, line, stop))
    try:
        await asyncio.wait_for(client.wait_for_notification(types.WINDOW_SHOW_MESSAGE), 120)
    finally:
        stop.set()
        await asking
    assert client.statuses[-1] == "error"  # type: ignore[attr-defined]
    broken_starts = len(starts(fake_state))
    toolchain.write_text(fixed)  # the fix: no waiting for the back-off (up to a minute)
    assert await suggestions(client, uri, line, 1) == TWO_EQ_TWO_TITLES
    assert len(starts(fake_state)) == broken_starts + 1
    assert any("answers again" in m for m in shown(client, types.MessageType.Info)), client.messages
    assert client.statuses[-1] == "ready"  # type: ignore[attr-defined]


async def test_a_repl_that_cannot_start_is_reported_once_and_not_restarted_in_a_loop(
    client: LanguageClient, lean_project: Path, fake_state: Path, tmp_path: Path
) -> None:
    """The same policy for the REPL verifier: its header load fails at every start."""
    repl_state = tmp_path / "repl-state"
    repl_state.mkdir()
    await start_session(
        client,
        lean_project,
        fake_state,
        model="",
        automationTactics=TWO_EQ_TWO_TACTICS,
        verifier="repl",
        replCommand=repl_command(repl_state, "--crash-after-inputs", "1"),
    )
    text, uri = open_examples(client, lean_project)
    line = proof_line(text, "two_eq_two", 1)
    stop = asyncio.Event()
    asking = asyncio.create_task(keep_asking(client, uri, line, stop))
    try:
        await asyncio.wait_for(client.wait_for_notification(types.WINDOW_SHOW_MESSAGE), 120)
        for _ in range(10):
            assert await code_actions_at(client, uri, line, 2) == []  # nothing shown unchecked
    finally:
        stop.set()
        await asking
    errors = shown(client, types.MessageType.Error)
    assert len(errors) == 1, client.messages
    assert "the REPL" in errors[0] and "llmstep-lsp doctor" in errors[0]
    assert client.statuses[-1] == "error"  # type: ignore[attr-defined]
    assert 3 <= len(repl_starts(repl_state)) <= 8, "restarted in a loop"
