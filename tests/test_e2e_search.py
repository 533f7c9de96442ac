"""Proof search and whole proofs in the editor, end to end through the real server process: the
code action, its command in the background with work-done progress, cancellation (by the progress
or by an edit), and the found proof as a versioned `workspace/applyEdit`."""

from __future__ import annotations

import ast
import asyncio
import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from lsprotocol import types
from pytest_lsp import LanguageClient

from llmstep_lsp.lsp.methods import COMPLETE_PROOF_COMMAND, SEARCH_PROOF_COMMAND
from tests.conftest import project_files
from tests.lsp_helpers import open_document, start_session
from tests.support.fake_openai import FakeOpenAI
from tests.test_prove import CHAIN, SEARCH_SCRIPT, TACTICS

pytestmark = pytest.mark.e2e
PROOF = "  apply hqr\n  apply hpq\n  exact hp"


@pytest.fixture
def client(client: LanguageClient) -> LanguageClient:
    """The shared client (`tests/support/lsp_client.py`), watching progress and applying edits."""
    client.activity = watch_activity(client)  # type: ignore[attr-defined]
    return client


def watch_activity(client: LanguageClient) -> asyncio.Event:
    """An event set at every `$/progress` notification and `workspace/applyEdit` request the client
    gets (edits are applied as an editor does, and recorded in `client.applied_edits`).

    pytest-lsp resolves a `wait_for_notification` future (running its callback, which re-arms it)
    just before its own handler records the notification, so a waiter woken by the event sees
    the record."""
    activity = asyncio.Event()
    applied: list[types.ApplyWorkspaceEditParams] = []
    client.applied_edits = applied  # type: ignore[attr-defined]

    @client.feature(types.WORKSPACE_APPLY_EDIT)
    def on_apply(params: types.ApplyWorkspaceEditParams) -> types.ApplyWorkspaceEditResult:
        applied.append(params)
        activity.set()
        return types.ApplyWorkspaceEditResult(applied=True)

    def on_progress(_params: object) -> None:
        activity.set()
        client.protocol.wait_for_notification(types.PROGRESS, on_progress)

    client.protocol.wait_for_notification(types.PROGRESS, on_progress)
    return activity


@pytest.fixture
def endpoint() -> Iterator[FakeOpenAI]:
    with FakeOpenAI() as fake:
        fake.script = TACTICS
        yield fake


async def command_actions(client: LanguageClient, uri: str, line: int, character: int) -> dict[str, Any]:
    """title -> the command of each code action that runs a command.

    lsprotocol's client-side converter reads a CodeAction that has a `command` and no `edit` as a
    `Command` whose `command` is the repr of the nested object; undo that here (editors parse the
    JSON correctly).
    """
    position = types.Position(line=line, character=character)
    result = await client.text_document_code_action_async(
        types.CodeActionParams(
            text_document=types.TextDocumentIdentifier(uri=uri),
            range=types.Range(start=position, end=position),
            context=types.CodeActionContext(diagnostics=[]),
        )
    )
    commands = {}
    for item in result or []:
        if isinstance(item, types.Command) and item.command.startswith("{"):
            commands[item.title] = ast.literal_eval(item.command)
        elif isinstance(item, types.CodeAction) and item.command is not None:
            commands[item.title] = {"command": item.command.command, "arguments": item.command.arguments}
    return commands


async def wait_until(client: LanguageClient, condition: Callable[[], bool], timeout_s: float = 120) -> None:
    """Wait until `condition()` holds, re-checking it after each progress report or edit."""
    activity: asyncio.Event = client.activity  # type: ignore[attr-defined]
    try:
        async with asyncio.timeout(timeout_s):
            while True:
                activity.clear()
                if condition():
                    return
                await activity.wait()
    except TimeoutError:
        raise AssertionError(f"condition not reached within {timeout_s:g} s") from None


def edits_of(client: LanguageClient) -> list[types.ApplyWorkspaceEditParams]:
    return client.applied_edits  # type: ignore[attr-defined,no-any-return]


def progress_of(client: LanguageClient, token: str) -> list[Any]:
    return client.progress_reports.get(token, [])


def ended(client: LanguageClient, token: str) -> bool:
    return any(isinstance(v, types.WorkDoneProgressEnd) for v in progress_of(client, token))


def shadow_changes(state: Path) -> int:
    path = state / "received.jsonl"
    lines = path.read_text().splitlines() if path.exists() else []
    return sum(
        1
        for line in lines
        if json.loads(line).get("method") == "textDocument/didChange" and "/.llmstep/" in line
    )


async def start(
    client: LanguageClient, project: Path, state: Path, fake: FakeOpenAI, *knobs: str, **settings: Any
) -> str:
    await start_session(
        client,
        project,
        state,
        *knobs,
        script=SEARCH_SCRIPT,
        **{
            "model": "scripted",
            "backend": "openai",
            "promptFormat": "proofstep",
            "endpoint": fake.endpoint,
            "searchSamples": 6,
            "automationTactics": [],
            **settings,
        },
    )
    path = project / "Chain.lean"
    path.write_text(CHAIN)
    return open_document(client, path)


async def execute(client: LanguageClient, command: str, uri: str, line: int = 1) -> str:
    result = await client.workspace_execute_command_async(
        types.ExecuteCommandParams(command=command, arguments=[uri, line])
    )
    assert isinstance(result, dict), result
    token = result["token"]
    assert isinstance(token, str)
    return token


async def test_search_action_runs_in_the_background_and_applies_the_proof(
    client: LanguageClient, lean_project: Path, fake_state: Path, endpoint: FakeOpenAI
) -> None:
    uri = await start(client, lean_project, fake_state, endpoint)
    before = project_files(lean_project)

    commands = await command_actions(client, uri, 1, 2)
    # No whole-proof model is configured: no "Complete the proof".
    assert commands == {
        "Search for a proof (llmstep)": {
            "title": "Search for a proof",
            "command": SEARCH_PROOF_COMMAND,
            "arguments": [uri, 1],
        }
    }

    token = await execute(client, SEARCH_PROOF_COMMAND, uri)
    await wait_until(client, lambda: ended(client, token))
    await wait_until(client, lambda: len(edits_of(client)) == 1)

    (applied,) = edits_of(client)
    assert applied.edit.document_changes is not None
    (change,) = applied.edit.document_changes
    assert isinstance(change, types.TextDocumentEdit)
    assert change.text_document.uri == uri and change.text_document.version == 1
    (edit,) = change.edits
    assert isinstance(edit, types.TextEdit)
    assert edit.range == types.Range(types.Position(1, 2), types.Position(1, len("  sorry")))
    assert edit.new_text == PROOF.lstrip()  # the `sorry` is replaced, its indentation stays

    values = progress_of(client, token)
    assert isinstance(values[0], types.WorkDoneProgressBegin) and values[0].cancellable
    reports = [v.message for v in values if isinstance(v, types.WorkDoneProgressReport)]
    assert reports[0] == "0 nodes expanded, depth 0, 0 s"
    assert any(m and m.startswith("3 nodes expanded, depth 2") for m in reports), reports
    assert values[-1].message == "proof found"
    assert project_files(lean_project) == before  # the edit goes to the editor, never to disk


async def test_cancelling_the_progress_stops_the_search(
    client: LanguageClient, lean_project: Path, fake_state: Path, endpoint: FakeOpenAI
) -> None:
    uri = await start(client, lean_project, fake_state, endpoint, "--latency-ms", "400")
    token = await execute(client, SEARCH_PROOF_COMMAND, uri)
    await wait_until(client, lambda: len(progress_of(client, token)) >= 2)  # begin and the first report
    client.window_work_done_progress_cancel(types.WorkDoneProgressCancelParams(token=token))
    await wait_until(client, lambda: ended(client, token))

    assert progress_of(client, token)[-1].message == "cancelled"
    assert edits_of(client) == []  # "cancelled": this task can apply no proof any more
    checks = shadow_changes(fake_state)
    # Nothing announces "nothing more happened": a quiet window, long against the fake Lean's
    # 400 ms per check, in which a search still running would have sent Lean more candidates.
    await asyncio.sleep(2)
    assert shadow_changes(fake_state) == checks, "Lean kept checking candidates after the cancel"


async def test_an_edit_cancels_the_search(
    client: LanguageClient, lean_project: Path, fake_state: Path, endpoint: FakeOpenAI
) -> None:
    uri = await start(client, lean_project, fake_state, endpoint, "--latency-ms", "400")
    token = await execute(client, SEARCH_PROOF_COMMAND, uri)
    await wait_until(client, lambda: len(progress_of(client, token)) >= 2)
    client.text_document_did_change(
        types.DidChangeTextDocumentParams(
            text_document=types.VersionedTextDocumentIdentifier(uri=uri, version=2),
            content_changes=[types.TextDocumentContentChangeWholeDocument(text=CHAIN + "\n-- edited\n")],
        )
    )
    await wait_until(client, lambda: ended(client, token))
    assert progress_of(client, token)[-1].message == "cancelled"
    # The server applies a proof only when the task ends with one; "cancelled" means it never will.
    assert edits_of(client) == []


async def test_complete_the_proof_applies_a_whole_proof_lean_accepts(
    client: LanguageClient, lean_project: Path, fake_state: Path, endpoint: FakeOpenAI
) -> None:
    from tests.support.fake_openai import Script

    declaration = CHAIN.split("\n")[0]
    endpoint.script = Script(
        texts=[
            f"```lean4\n{declaration}\n  exact hp\n```",
            f"```lean4\n{declaration}\n  apply hqr\n  apply hpq\n  exact hp\n```",
        ],
        logprobs=[[-0.1], [-0.3]],
    )
    uri = await start(
        client,
        lean_project,
        fake_state,
        endpoint,
        backend="openai-chat",
        promptFormat="chat-proof",
        wholeProofSamples=2,
    )
    commands = await command_actions(client, uri, 1, 2)
    complete = commands["Complete the proof (llmstep, whole-proof model)"]
    assert complete["command"] == COMPLETE_PROOF_COMMAND and complete["arguments"] == [uri, 1]

    token = await execute(client, COMPLETE_PROOF_COMMAND, uri)
    await wait_until(client, lambda: len(edits_of(client)) == 1)
    (change,) = edits_of(client)[0].edit.document_changes or []
    assert isinstance(change, types.TextDocumentEdit) and change.text_document.version == 1
    assert isinstance(change.edits[0], types.TextEdit) and change.edits[0].new_text == PROOF.lstrip()
    await wait_until(client, lambda: ended(client, token))
