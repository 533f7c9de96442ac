"""When to compute suggestions and how long an editor request waits for them.

Editors send a code-action (and inline-completion) request at every cursor stop. A request for a
position with nothing cached or in flight first waits a short debounce: if the cursor moved on to
another line (a newer request for the document, for another line) or the text changed, nothing is
computed. Requests for the same line share one computation, so a second request for that line
(VS Code asks for code actions and inline completions at once) never drops the first.

A computation grows (`pipeline/growth.py`): a code action or ghost text request takes the first *settled*
snapshot with suggestions (the model-free tactics, verified, while the model still generates)
instead of waiting for the model; each later growth is published as a new hint, and the next
request sees the grown set. Only the final set is cached.

An automatic request waits at most `codeActionWaitMs`; the computation then continues in the
background, and when it grows or lands the engine's `suggestions_ready` hook lets the server
publish a hint diagnostic, which makes the editor ask again: the lightbulb appears without the user
moving the cursor. An *invoked* request (Ctrl+., "Trigger Inline Suggestion": the user asked and
waits for an answer) that has nothing after `codeActionWaitMs` goes on waiting for the first
settled suggestions or the end of the computation, so that the editor does not say "No code
actions available" while the answer is being checked.
"""

from __future__ import annotations

import asyncio
import itertools

from llmstep_lsp.pipeline.engine import SuggestionEngine
from llmstep_lsp.pipeline.results import SuggestionSet
from llmstep_lsp.text.documents import DocumentStore, MirroredDocument

DEBOUNCE_S = 0.15


class SuggestionScheduler:
    """Debounces editor requests and bounds how long each one waits (see the module docstring)."""

    def __init__(self, engine: SuggestionEngine, documents: DocumentStore) -> None:
        self.engine = engine
        self.documents = documents
        """The editor's open documents (the server's store): whether a request's text is current."""
        self._tickets: dict[str, tuple[int, int]] = {}  # uri -> (line, ticket) of the newest request
        self._next_ticket = itertools.count(1)  # never reused, even after `forget`

    async def request(
        self, document: MirroredDocument, line: int, settled: bool = False, invoked: bool = False
    ) -> SuggestionSet | None:
        """The suggestions at `line` of `document` (the text as the request found it) if ready
        within the wait budget, else what is known then (None before anything is; the rest arrives
        later, with a hint diagnostic).

        With `settled`, a settled snapshot with suggestions answers at once (the model-free ones
        while the model generates). `invoked`: the user asked explicitly, so the request waits past
        the budget for the first settled suggestions (bounded by the engine's `suggestBudgetS`)."""
        uri, version, text = document.uri, document.version, document.text
        if (hit := self.engine.cached(uri, version, line)) is not None:
            return hit
        if not self.engine.in_flight(uri, version, line):
            ticket = next(self._next_ticket)
            self._tickets[uri] = (line, ticket)
            await asyncio.sleep(DEBOUNCE_S)
            newest = self._tickets.get(uri)
            moved_on = newest is None or (newest[1] != ticket and newest[0] != line)
            if moved_on or not self.documents.is_current(uri, version):
                return None  # the cursor moved on, the text changed or was closed: not worth computing
        wait_s = self.engine.settings.code_action_wait_ms / 1000
        try:
            try:
                return await asyncio.wait_for(self.engine.suggest(uri, version, text, line, settled), wait_s)
            except TimeoutError:
                # Still computing (the computation is shielded from this timeout): give what is known.
                early = self.engine.early_result(uri, version, line)
                if not invoked or (early is not None and early.suggestions):
                    return early  # an invoked request never takes "nothing yet" for an answer
            return await self.engine.suggest(uri, version, text, line, settled=True)
        except asyncio.CancelledError:
            task = asyncio.current_task()
            if task is not None and task.cancelling():
                raise  # this request itself was cancelled ($/cancelRequest)
            return None  # an edit cancelled the computation: its result would have been stale

    def forget(self, uri: str) -> None:
        """The document was closed: a request still in its debounce computes nothing."""
        self._tickets.pop(uri, None)
