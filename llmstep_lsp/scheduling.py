"""When to compute suggestions and how long an editor request waits for them.

Editors send a code-action (and inline-completion) request at every cursor stop. A request for a
position with nothing cached or in flight first waits a short debounce: if the cursor moved on (a
newer request for the document) or the text changed, nothing is computed. A request waits at most
`codeActionWaitMs` for the result; the computation then continues in the background, and when it
lands the engine's `suggestions_ready` hook lets the server publish a hint diagnostic, which makes
the editor ask again: the lightbulb appears without the user moving the cursor.

A computation grows (`pipeline.py`): a code action or ghost text request takes the first *settled*
snapshot with suggestions (the model-free tactics, verified, while the model still generates)
instead of waiting for the model; each later growth is published as a new hint, and the next
request sees the grown set. Only the final set is cached.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Callable

from llmstep_lsp.engine import SuggestionEngine
from llmstep_lsp.results import SuggestionSet

DEBOUNCE_S = 0.15


class SuggestionScheduler:
    def __init__(self, engine: SuggestionEngine) -> None:
        self.engine = engine
        self._tickets: dict[str, int] = {}  # uri -> the newest request's ticket
        self._next_ticket = itertools.count(1)  # never reused, even after `forget`

    async def request(
        self,
        uri: str,
        version: int,
        text: str,
        line: int,
        current_version: Callable[[], int | None],
        settled: bool = False,
    ) -> SuggestionSet | None:
        """The suggestions if ready within the wait budget, else what is known then (None before
        anything is; the rest arrives later). With `settled`, a settled snapshot with suggestions
        answers at once (the model-free ones while the model generates)."""
        if (hit := self.engine.cached(uri, version, line)) is not None:
            return hit
        if not self.engine.in_flight(uri, version, line):
            ticket = self._tickets[uri] = next(self._next_ticket)
            await asyncio.sleep(DEBOUNCE_S)
            if self._tickets.get(uri) != ticket or current_version() != version:
                return None  # the cursor moved on, the text changed or was closed: not worth computing
        wait_s = self.engine.settings.code_action_wait_ms / 1000
        try:
            return await asyncio.wait_for(self.engine.suggest(uri, version, text, line, settled), wait_s)
        except TimeoutError:
            # Still computing (the computation is shielded from this timeout): give what is known.
            return self.engine.early_result(uri, version, line)
        except asyncio.CancelledError:
            task = asyncio.current_task()
            if task is not None and task.cancelling():
                raise  # this request itself was cancelled ($/cancelRequest)
            return None  # an edit cancelled the computation: its result would have been stale

    def forget(self, uri: str) -> None:
        self._tickets.pop(uri, None)
