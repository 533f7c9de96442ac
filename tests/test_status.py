"""`llmstep/status` says what is true without any request: a model that cannot load is an error
about the model (suggestions go on without it), no model is `ready` with `model: false`."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from pytest_lsp import LanguageClient

from llmstep_lsp.lsp.methods import STATUS_NOTIFICATION
from tests.lsp_helpers import start_session

pytestmark = pytest.mark.e2e


@pytest.fixture
def client(client: LanguageClient) -> LanguageClient:
    """The shared client (`tests/support/lsp_client.py`), recording every `llmstep/status` whole."""
    statuses: list[dict[str, Any]] = []
    changed = asyncio.Event()
    client.statuses = statuses  # type: ignore[attr-defined]
    client.status_changed = changed  # type: ignore[attr-defined]

    @client.feature(STATUS_NOTIFICATION)
    def on_status(params) -> None:  # type: ignore[no-untyped-def]
        statuses.append({"state": params.state, "message": params.message, "problem": params.problem,
                         "model": params.model})  # fmt: skip
        changed.set()

    return client


async def until_status(client: LanguageClient, state: str) -> dict[str, Any]:
    """The first status `state` announced (waiting for it up to 60 s)."""
    statuses: list[dict[str, Any]] = client.statuses  # type: ignore[attr-defined]
    changed: asyncio.Event = client.status_changed  # type: ignore[attr-defined]
    async with asyncio.timeout(60):
        while not any(s["state"] == state for s in statuses):
            changed.clear()
            await changed.wait()
    return next(s for s in statuses if s["state"] == state)


async def test_a_model_that_cannot_load_is_a_model_error_before_any_request(
    client: LanguageClient, lean_project: Path, fake_state: Path
) -> None:
    await start_session(client, lean_project, fake_state, model="/nonexistent/llmstep-model")
    error = await until_status(client, "error")
    assert error["problem"] == "model" and error["model"] is True
    assert "/nonexistent/llmstep-model" in error["message"] and "model-free" in error["message"]
    states = [s["state"] for s in client.statuses]  # type: ignore[attr-defined]
    assert states == ["loading", "error"], "never 'ready' while the model is unavailable"
    assert [m.message for m in client.messages] == [error["message"]], "said once, as the status says"


async def test_without_a_model_the_sidecar_is_ready_without_one(
    client: LanguageClient, lean_project: Path, fake_state: Path
) -> None:
    await start_session(client, lean_project, fake_state, model="")
    ready = await until_status(client, "ready")
    assert ready == {"state": "ready", "message": "", "problem": None, "model": False}
