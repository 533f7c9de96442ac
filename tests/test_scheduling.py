"""The scheduler: its debounce (a document closed meanwhile was found by the fuzz test: KeyError),
requests for the same line, and how long an invoked request waits."""

from __future__ import annotations

import asyncio
from typing import Any

from llmstep_lsp.config.settings import Settings
from llmstep_lsp.lsp.scheduling import SuggestionScheduler
from llmstep_lsp.pipeline.results import Suggestion, SuggestionSet
from llmstep_lsp.text.documents import DocumentStore, MirroredDocument
from llmstep_lsp.text.suggestion_point import SuggestionPoint
from llmstep_lsp.verification.verifier import Verdict


class IdleEngine:
    """Nothing cached or in flight; computing anything is a failure of the test."""

    def cached(self, uri: str, version: int, line: int) -> None:
        return None

    def in_flight(self, uri: str, version: int, line: int) -> bool:
        return False

    async def suggest(self, *args: Any) -> None:
        raise AssertionError("computed suggestions for a closed document")


URI = "file:///A.lean"
DOCUMENT = MirroredDocument(URI, 1, "")


def scheduler_for(engine: object) -> tuple[SuggestionScheduler, DocumentStore]:
    """A scheduler over `engine` and the store where the server keeps `DOCUMENT` open."""
    documents = DocumentStore()
    documents.open(URI, DOCUMENT.version, DOCUMENT.text)
    return SuggestionScheduler(engine, documents), documents  # type: ignore[arg-type]


async def test_a_document_closed_during_the_debounce_gets_no_answer_and_no_error() -> None:
    scheduler, documents = scheduler_for(IdleEngine())
    asking = asyncio.create_task(scheduler.request(DOCUMENT, 0))
    await asyncio.sleep(0)  # the request is now in its debounce
    documents.close(URI)  # didClose
    scheduler.forget(URI)
    assert await asking is None


async def test_a_request_after_reopening_does_not_revive_one_from_before_the_close() -> None:
    scheduler, _ = scheduler_for(IdleEngine())
    old = asyncio.create_task(scheduler.request(DOCUMENT, 0))
    await asyncio.sleep(0)
    scheduler.forget(URI)  # closed, and reopened at the same version: only the ticket tells them apart
    new = asyncio.create_task(scheduler.request(MirroredDocument(URI, 2, ""), 3))  # stale: never computed
    assert await old is None, "the old request took the new one's ticket"
    assert await new is None


class GatedEngine:
    """Computes for whichever line is asked, finishing when the test opens `gate`; records lines.
    `grow` stands for a settled snapshot of the growing result (`SuggestionEngine.suggest` with
    `settled` returns the first one that has suggestions)."""

    def __init__(self, wait_ms: int = 60_000) -> None:
        self.settings = Settings(code_action_wait_ms=wait_ms)
        self.gate = asyncio.Event()
        self.budget_spent = asyncio.Event()
        self.computed: list[int] = []
        self._tasks: dict[int, asyncio.Task[SuggestionSet]] = {}
        self._settled: dict[int, asyncio.Future[SuggestionSet]] = {}

    def grow(self, snapshot: SuggestionSet) -> None:
        assert snapshot.point is not None
        waiter = self._settled.setdefault(snapshot.point.line, asyncio.get_running_loop().create_future())
        if snapshot.suggestions and not waiter.done():
            waiter.set_result(snapshot)

    def cached(self, uri: str, version: int, line: int) -> None:
        return None

    def in_flight(self, uri: str, version: int, line: int) -> bool:
        return line in self._tasks

    def early_result(self, uri: str, version: int, line: int) -> SuggestionSet | None:
        self.budget_spent.set()  # the request's wait budget is over: it now waits on or gives up
        return self.latest

    latest: SuggestionSet | None = None
    """The growing result's latest snapshot (`SuggestionEngine.early_result`)."""

    async def _compute(self, uri: str, version: int, line: int) -> SuggestionSet:
        self.computed.append(line)
        await self.gate.wait()
        return result_at(uri, version, line, "rfl")

    async def suggest(
        self, uri: str, version: int, text: str, line: int, settled: bool = False
    ) -> SuggestionSet:
        if line not in self._tasks:
            self._tasks[line] = asyncio.create_task(self._compute(uri, version, line))
        whole = asyncio.shield(self._tasks[line])
        if not settled:
            return await whole
        early = asyncio.shield(self._settled.setdefault(line, asyncio.get_running_loop().create_future()))
        done, _ = await asyncio.wait({whole, early}, return_when=asyncio.FIRST_COMPLETED)
        return (early if early in done else whole).result()


def result_at(uri: str, version: int, line: int, *tactics: str) -> SuggestionSet:
    point = SuggestionPoint(line, "  ", "", "", False)
    found = tuple(Suggestion(t, Verdict.CLOSES, (), None, "automation") for t in tactics)
    return SuggestionSet(uri, version, point, ("⊢ True",), found)


async def test_two_requests_for_the_same_line_share_one_computation_and_both_get_it() -> None:
    """VS Code asks for code actions and inline completions at the same cursor stop: the second must
    not make the first give up (on an empty proof line, the lightbulb's request is the first)."""
    engine = GatedEngine()
    scheduler, _ = scheduler_for(engine)
    first = asyncio.create_task(scheduler.request(DOCUMENT, 4))
    await asyncio.sleep(0)
    second = asyncio.create_task(scheduler.request(DOCUMENT, 4))
    await asyncio.sleep(0)
    engine.gate.set()
    answers = await asyncio.gather(first, second)
    assert [a.suggestions[0].tactic if a else None for a in answers] == ["rfl", "rfl"]
    assert engine.computed == [4]


async def test_a_request_for_another_line_makes_the_older_one_give_up() -> None:
    engine = GatedEngine()
    scheduler, _ = scheduler_for(engine)
    old = asyncio.create_task(scheduler.request(DOCUMENT, 4))
    await asyncio.sleep(0)
    new = asyncio.create_task(scheduler.request(DOCUMENT, 7))
    await asyncio.sleep(0)
    engine.gate.set()
    assert await old is None
    answer = await new
    assert answer is not None and answer.point is not None and answer.point.line == 7
    assert engine.computed == [7]


async def test_an_invoked_request_waits_past_the_budget_for_the_first_verified_result() -> None:
    """Ctrl+. while Lean is still checking: the menu gets the first verified suggestions, not "No
    code actions available"; an automatic request (the lightbulb's) gives up after the budget."""
    engine = GatedEngine(wait_ms=1)
    scheduler, _ = scheduler_for(engine)
    automatic = await scheduler.request(DOCUMENT, 4)
    assert automatic is None  # still computing; the hint diagnostic brings the lightbulb later
    engine.budget_spent.clear()
    invoked = asyncio.create_task(scheduler.request(DOCUMENT, 4, invoked=True))
    await asyncio.wait_for(engine.budget_spent.wait(), 10)  # it now waits for settled suggestions
    engine.grow(result_at(URI, 1, 4))  # nothing verified yet: keeps waiting
    await asyncio.sleep(0)
    assert not invoked.done()
    early = result_at(URI, 1, 4, "omega")
    engine.grow(early)  # the model-free candidates checked, while the model still generates
    assert await asyncio.wait_for(invoked, 10) is early
    engine.gate.set()


async def test_an_invoked_request_does_not_take_a_snapshot_without_suggestions_for_an_answer() -> None:
    """Ctrl+. just after Lean restarted: the latest snapshot has nothing verified yet (the menu
    would show no suggestion); the request waits on for the first settled suggestions."""
    engine = GatedEngine(wait_ms=1)
    engine.latest = result_at(URI, 1, 4)  # settled nothing so far
    scheduler, _ = scheduler_for(engine)
    automatic = await scheduler.request(DOCUMENT, 4)
    assert automatic is engine.latest  # the lightbulb's request takes what is known
    invoked = asyncio.create_task(scheduler.request(DOCUMENT, 4, invoked=True))
    engine.budget_spent.clear()
    await asyncio.wait_for(engine.budget_spent.wait(), 10)
    await asyncio.sleep(0)
    assert not invoked.done()
    early = result_at(URI, 1, 4, "rfl")
    engine.grow(early)
    assert await asyncio.wait_for(invoked, 10) is early
    engine.gate.set()


async def test_an_invoked_request_gets_the_whole_result_when_it_comes_first() -> None:
    engine = GatedEngine(wait_ms=1)
    scheduler, _ = scheduler_for(engine)
    invoked = asyncio.create_task(scheduler.request(DOCUMENT, 4, invoked=True))
    await asyncio.wait_for(engine.budget_spent.wait(), 10)
    engine.gate.set()
    answer = await asyncio.wait_for(invoked, 10)
    assert answer is not None and [s.tactic for s in answer.suggestions] == ["rfl"]
