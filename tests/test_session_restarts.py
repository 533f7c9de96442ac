"""Lean sessions that restart: documents opened meanwhile, Lean servers that keep dying (back-off),
and how the user is told."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest
from lsprotocol import types
from pytest_lsp import LanguageClient

from tests.conftest import fake_lean_command
from tests.lsp_helpers import TWO_EQ_TWO_TACTICS, TWO_EQ_TWO_TITLES, open_document, proof_line, start_session
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
