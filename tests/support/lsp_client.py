"""The sidecar as the end-to-end tests start it through pytest-lsp: its command and environment,
and the `client` fixture every such test module shares (`tests/conftest.py` makes it visible)."""

from __future__ import annotations

import os
import sys
from collections.abc import AsyncIterator

import pytest_lsp
from pytest_lsp import ClientServerConfig, LanguageClient

SERVER_CONFIG = ClientServerConfig(
    server_command=[sys.executable, "-m", "llmstep_lsp", "serve", "--stdio"],
    server_env={
        **os.environ,
        "HF_HUB_OFFLINE": "1",
        "TRANSFORMERS_OFFLINE": "1",
        "LLMSTEP_LOG_LEVEL": "DEBUG",
    },
)


@pytest_lsp.fixture(config=SERVER_CONFIG)
async def client(lsp_client: LanguageClient) -> AsyncIterator[None]:
    """A client talking to a fresh sidecar process (initialized by the test, `start_session`), shut
    down at the end unless the test did so itself (it sets `shut_down_by_test`). A module that
    records more (statuses, applied edits) overrides it with a fixture that takes this one."""
    yield
    if not getattr(lsp_client, "shut_down_by_test", False):
        await lsp_client.shutdown_session()
