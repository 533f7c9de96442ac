"""Model-free tactics never wait for the model (issue 15, item 6), end to end through the sidecar
with the fake Lean: the quick fix reaches the editor while the model's endpoint has not answered,
and the model's verified suggestions join the same result when it does.

The endpoint is the fake one, held until the test releases it (`Script.hold`): no real server can be
made to take exactly as long as a test needs. Nothing here sleeps or measures time; each step waits
on what the editor receives.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest
from lsprotocol import types
from pytest_lsp import LanguageClient

from tests.lsp_helpers import (
    code_actions_at,
    inline_at,
    open_examples,
    proof_line,
    start_session,
    suggest_report,
)
from tests.support.fake_openai import FakeOpenAI, Script

pytestmark = pytest.mark.e2e


@pytest.fixture
def held() -> Iterator[tuple[FakeOpenAI, threading.Event]]:
    """A fake endpoint that answers nothing until the event is set (always set at the end)."""
    release = threading.Event()
    with FakeOpenAI() as fake:
        try:
            yield fake, release
        finally:
            release.set()


async def start(client: LanguageClient, project: Path, state: Path, fake: FakeOpenAI) -> None:
    await start_session(
        client, project, state, preset="llemma", endpoint=fake.endpoint, numSamples=2,
        requestRetries=0, requestTimeoutS=600, automationTactics=["rfl"],
    )  # fmt: skip


async def hint_saying(client: LanguageClient, uri: str, words: str) -> types.Diagnostic:
    """The hint on `uri` once its message contains `words`: already received, or the next ones (the
    wait is registered before anything else can be received, so none is missed)."""

    def matching(diagnostics: Sequence[types.Diagnostic]) -> types.Diagnostic | None:
        return diagnostics[0] if diagnostics and words in diagnostics[0].message else None

    while (found := matching(client.diagnostics.get(uri) or [])) is None:
        future = client.protocol.wait_for_notification(types.TEXT_DOCUMENT_PUBLISH_DIAGNOSTICS)
        params = await asyncio.wait_for(asyncio.wrap_future(future), 60)
        if params.uri == uri and (found := matching(params.diagnostics)) is not None:
            break
    return found


def titles(actions: list[types.CodeAction]) -> list[str]:
    return [a.title for a in actions]


async def test_the_model_free_quick_fix_comes_before_the_model_answers_and_the_model_joins_it(
    client: LanguageClient, lean_project: Path, fake_state: Path, held: tuple[FakeOpenAI, threading.Event]
) -> None:
    fake, release = held
    fake.script = Script(texts=["decide", "simp"], logprobs=[[-0.1], [-0.2]], hold=release)
    await start(client, lean_project, fake_state, fake)
    text, uri = open_examples(client, lean_project)
    line = proof_line(text, "two_eq_two", 1)

    # The endpoint has not answered (it cannot until released): the model-free fix is there anyway.
    first = await code_actions_at(client, uri, line, 2)
    assert titles(first) == ["Try this: rfl (closes goal)"]
    await hint_saying(client, uri, "1 verified suggestion")
    # Asked again while the model is pending: the same set, not a cached final one.
    assert titles(await code_actions_at(client, uri, line, 2)) == titles(first)
    ghost = await inline_at(client, uri, line, 2)
    assert [item.insert_text for item in ghost.items] == ["rfl"]
    assert not release.is_set(), "the model cannot have answered yet"
    # The structured report waits for the final set: sent now, it is answered only once the model is.
    pending = asyncio.ensure_future(suggest_report(client, uri, line))

    release.set()
    hint = await hint_saying(client, uri, "3 verified suggestions")
    assert hint.range.start.line == line
    grown = await code_actions_at(client, uri, line, 2)
    # The model's (scored, best first) join the model-free one in the same result.
    assert titles(grown) == [
        "Try this: decide (closes goal)",
        "Try this: simp (closes goal)",
        "Try this: rfl (closes goal)",
    ]
    ghost = await inline_at(client, uri, line, 2)
    assert [item.insert_text for item in ghost.items] == ["decide", "simp", "rfl"]
    report = await suggest_report(client, uri, line)
    assert report.final and list(report.pending) == []
    assert {(s.tactic, s.source) for s in report.suggestions} == {
        ("decide", "model"), ("simp", "model"), ("rfl", "automation"),
    }  # fmt: skip
    # The request made while the model was pending waited for this same final set.
    waited = await pending
    assert waited.final and [s.tactic for s in waited.suggestions] == [s.tactic for s in report.suggestions]
    assert len(fake.requests) == 1  # one computation, shared by every request above


async def test_a_model_that_fails_late_still_finalizes_the_model_free_result(
    client: LanguageClient, lean_project: Path, fake_state: Path, held: tuple[FakeOpenAI, threading.Event]
) -> None:
    fake, release = held
    refusal = {"error": {"message": "Field 'temperature': out of range"}}
    fake.script = Script(texts=["decide"], fail_first=1, fail_status=400, fail_body=refusal, hold=release)
    await start(client, lean_project, fake_state, fake)
    text, uri = open_examples(client, lean_project)
    line = proof_line(text, "two_eq_two", 1)

    assert titles(await code_actions_at(client, uri, line, 2)) == ["Try this: rfl (closes goal)"]
    release.set()  # now the endpoint refuses the request
    report = await suggest_report(client, uri, line)
    assert report.final and [s.tactic for s in report.suggestions] == ["rfl"]
    shown = [m.message for m in client.messages if "temperature" in m.message]
    assert len(shown) == 1 and "only the model-free tactics" in shown[0]
    # Final, so cached: asking again costs the endpoint nothing.
    assert titles(await code_actions_at(client, uri, line, 2)) == ["Try this: rfl (closes goal)"]
    assert len(fake.requests) == 1
