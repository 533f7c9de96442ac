"""The scheduler's debounce when the document closes meanwhile (found by the fuzz test: KeyError)."""

from __future__ import annotations

import asyncio
from typing import Any

from llmstep_lsp.scheduling import SuggestionScheduler


class IdleEngine:
    """Nothing cached or in flight; computing anything is a failure of the test."""

    def cached(self, uri: str, version: int, line: int) -> None:
        return None

    def in_flight(self, uri: str, version: int, line: int) -> bool:
        return False

    async def suggest(self, *args: Any) -> None:
        raise AssertionError("computed suggestions for a closed document")


async def test_a_document_closed_during_the_debounce_gets_no_answer_and_no_error() -> None:
    scheduler = SuggestionScheduler(IdleEngine())  # type: ignore[arg-type]
    asking = asyncio.create_task(scheduler.request("file:///A.lean", 1, "", 0, lambda: None))
    await asyncio.sleep(0)  # the request is now in its debounce
    scheduler.forget("file:///A.lean")  # didClose
    assert await asking is None


async def test_a_request_after_reopening_does_not_revive_one_from_before_the_close() -> None:
    scheduler = SuggestionScheduler(IdleEngine())  # type: ignore[arg-type]
    version = {"file:///A.lean": 1}
    old = asyncio.create_task(
        scheduler.request("file:///A.lean", 1, "", 0, lambda: version.get("file:///A.lean"))
    )
    await asyncio.sleep(0)
    scheduler.forget("file:///A.lean")
    new = asyncio.create_task(scheduler.request("file:///A.lean", 1, "", 3, lambda: None))
    assert await old is None, "the old request took the new one's ticket"
    assert await new is None
