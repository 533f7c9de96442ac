"""Progressive suggestions: every candidate source feeds Lean on its own, and the result grows.

The model-free tactics answer at once; the model takes seconds (a local model) to a minute (a busy
endpoint). Nothing waits for the slowest source: each source's candidates are checked as soon as
that source answers, and after each step (a source answered, verdicts came in) `grow` hands on a
`Growth` snapshot, from which the engine makes a new immutable `SuggestionSet`. A snapshot is
*settled* when every answered source's candidates have their verdicts; it is *final* when, in
addition, no source is still generating. Only a final set is cached (`pipeline/engine.py`); `Computation`
lets editor requests take a settled snapshot meanwhile (`lsp/scheduling.py`).

The final ranking does not depend on which source answered first: candidates are merged in source
order (the model's, by score, then the model-free ones, `generation/ranking.merge_ranked`), and a
text proposed by two sources is checked once. Generators give their candidates as proposed; each
answer is filtered and ranked here, once.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from dataclasses import dataclass, replace
from typing import Any

from llmstep_lsp.generation import Candidate, GenerationRequest, Generator, ModelUnavailable
from llmstep_lsp.generation.automation import AutomationGenerator
from llmstep_lsp.generation.factory import ModelGenerator
from llmstep_lsp.generation.ranking import merge_ranked, normalise_tactic, ranked_unique
from llmstep_lsp.pipeline.health import Notices, model_unavailable
from llmstep_lsp.pipeline.results import Suggestion, SuggestionSet
from llmstep_lsp.verification.batch import Outcome, filtered

log = logging.getLogger(__name__)

Check = Callable[[Candidate], Coroutine[Any, Any, list[Outcome]]]
"""Lean's outcomes for one candidate (a search tactic: its own, then its proposals')."""
SourceRun = tuple[str, Callable[[], Coroutine[Any, Any, list[Candidate]]]]
"""A source's name and the call that generates its candidates (it never raises but on cancellation)."""


@dataclass(frozen=True)
class Growth:
    """A snapshot of a growing computation."""

    outcomes: tuple[Outcome, ...]
    """The outcomes so far, in rank order (source order, scored first)."""
    pending: tuple[str, ...]
    """Sources not answered yet, or whose candidates are still being checked."""
    settled: bool
    """No candidate is being checked: only unanswered sources are pending."""
    candidates: int
    """Distinct candidates taken in so far (after the filter)."""
    answered_ms: dict[str, float]
    """Source name → milliseconds from the start until it answered."""


async def grow(
    sources: Sequence[SourceRun],
    check: Check,
    theorem_name: str | None,
    rejected: list[tuple[Candidate, str]],
    on_step: Callable[[Growth], None],
) -> Growth:
    """Run every source and check each one's candidates as soon as it answers; `on_step` gets a
    snapshot after every step, and the last (final) one is returned.

    Each source's answer (as its generator gives it: unfiltered, unranked) is filtered and ranked
    here, once (`merge_ranked`); `rejected` collects the candidates the filter drops. Raises what
    `check` raises (`LeanError`), after cancelling the rest; cancelling `grow` cancels every source
    and check under way.
    """
    started = time.perf_counter()
    order = [name for name, _ in sources]
    answered: dict[str, list[Candidate]] = {}
    answered_ms: dict[str, float] = {}
    checks: dict[str, list[Outcome]] = {}  # normalised text -> outcomes, once checked
    owner: dict[str, str] = {}  # normalised text -> the source that first proposed it
    tasks: dict[asyncio.Task[list[Candidate]] | asyncio.Task[list[Outcome]], str] = {}
    for name, run in sources:
        tasks[asyncio.create_task(run())] = f"source:{name}"

    def snapshot() -> Growth:
        everything = [c for name in order for c in answered.get(name, [])]
        outcomes: list[Outcome] = []
        for candidate in ranked_unique(everything):  # each answer was filtered as it came
            found = checks.get(normalise_tactic(candidate.tactic))
            if found:  # the best-scored duplicate stands for the text
                outcomes += [replace(found[0], candidate=candidate), *found[1:]]
        checking = {owner[task_key[6:]] for task_key in tasks.values() if task_key.startswith("check:")}
        unanswered = [name for name in order if name not in answered]
        pending = tuple(name for name in order if name in checking or name in unanswered)
        return Growth(tuple(outcomes), pending, not checking, len(owner), dict(answered_ms))

    try:
        while tasks:
            done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
            for task in done:
                label = tasks.pop(task)
                kind, _, name = label.partition(":")
                if kind == "check":
                    checks[name] = task.result()  # type: ignore[assignment]
                    continue
                answered_ms[name] = (time.perf_counter() - started) * 1000
                answered[name] = merge_ranked(task.result(), theorem_name, rejected)  # type: ignore[arg-type]
                for candidate in answered[name]:
                    key = normalise_tactic(candidate.tactic)
                    if key not in owner:
                        owner[key] = name
                        tasks[asyncio.create_task(check(candidate))] = f"check:{key}"
            on_step(snapshot())
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    return snapshot()


class CandidateSources:
    """The engine's generators as named sources: the model (when one is configured), then the
    model-free tactics. A failing model is said once (`Notices`, key "model") and answers nothing;
    the other sources go on."""

    def __init__(
        self,
        model: ModelGenerator | None,
        automation: AutomationGenerator,
        notices: Notices,
        load_model: Callable[[], Awaitable[None]],
    ) -> None:
        self.model = model
        self.automation = automation
        self._notices = notices
        self._load_model = load_model  # loads (once), says a failure once; never raises it

    def runs(self, request: GenerationRequest, timings: dict[str, float]) -> list[SourceRun]:
        """The sources for one request; the model's run records its load wait as `timings["load"]`."""
        model, runs = self.model, list[SourceRun]()
        if model is not None:

            async def from_model() -> list[Candidate]:
                mark = time.perf_counter()  # the wait for the weights is not generation time
                await self._load_model()
                timings["load"] = (time.perf_counter() - mark) * 1000
                return await self.answer(model, request)

            runs.append(("model", from_model))
        runs.append(("automation", lambda: self.answer(self.automation, request)))
        return runs

    async def all(self, request: GenerationRequest) -> list[Candidate]:
        """Every source's candidates at once, filtered, merged and ranked (proof search expands
        nodes so)."""
        answers = await asyncio.gather(*(run() for _, run in self.runs(request, {})))
        return merge_ranked([c for answer in answers for c in answer], request.theorem_name)

    async def answer(self, generator: Generator, request: GenerationRequest) -> list[Candidate]:
        """`generator`'s candidates, or none when it fails (said once, with what to do)."""
        try:
            candidates = await generator.generate(request)
        except ModelUnavailable as err:
            self._notices.say_once("model", "warning", model_unavailable(err))
            return []
        except Exception as err:
            # A bug or a crash inside a backend (out of memory mid-generation, …): keep serving.
            log.error("generation failed", exc_info=err)
            self._notices.say_once(
                "model",
                "warning",
                f"llmstep: generation failed ({type(err).__name__}: {err}); only the model-free tactics "
                "are suggested. See the log.",
            )
            return []
        if generator is self.model:  # it works (again: a later outage is worth a message)
            self._notices.over("model", "llmstep: the model answers again.")
        return candidates


def ranked(outcomes: Sequence[Outcome], limit: int) -> tuple[Suggestion, ...]:
    """Verified ones only, at most `limit`: closing first, the generation order (model score, then
    automation) within."""
    suggestions: dict[str, Suggestion] = {}
    for o in outcomes:
        if o.kept and o.result is not None and o.candidate.tactic not in suggestions:
            c, r = o.candidate, o.result
            suggestions[c.tactic] = Suggestion(c.tactic, r.verdict, r.goals_after, c.score, c.source)
    best = sorted(suggestions.values(), key=lambda s: not s.closes)
    return tuple(best[:limit])


def filtered_once(rejected: list[tuple[Candidate, str]]) -> list[Outcome]:
    """The filter's rejections as outcomes, one per distinct text (a model may sample one many times)."""
    first: dict[str, Outcome] = {}
    for candidate, rule in rejected:
        first.setdefault(candidate.tactic, filtered(candidate, rule))
    return list(first.values())


class Computation:
    """One suggestion computation in flight: its task, and the latest snapshot of its growing result
    (replaced, never changed) for requests that take what is settled while the rest is awaited."""

    def __init__(self, task: asyncio.Task[SuggestionSet]) -> None:
        self.task = task
        self.latest: SuggestionSet | None = None
        self._changed = asyncio.Event()
        self._published: tuple[Suggestion, ...] = ()

    def grew(self, snapshot: SuggestionSet) -> bool:
        """Take a new snapshot; True if it is worth publishing now: settled, not final (the final
        set is published when the computation ends), and with other suggestions than the last
        published one."""
        self.latest = snapshot
        self._changed.set()
        self._changed = asyncio.Event()
        if not snapshot.settled or snapshot.final or snapshot.suggestions == self._published:
            return False
        self._published = snapshot.suggestions
        return True

    async def result(self, settled: bool = False) -> SuggestionSet:
        """The final set; with `settled`, a settled snapshot with suggestions as soon as there is one.

        Waiting here never cancels the computation (another request may share it). Raises
        `CancelledError` if the computation was cancelled (an edit), or what it raised.
        """
        while True:
            latest = self.latest
            if settled and latest is not None and latest.settled and latest.suggestions:
                return latest
            if self.task.done():
                return self.task.result()
            changed = asyncio.ensure_future(self._changed.wait())
            try:
                await asyncio.wait({self.task, changed}, return_when=asyncio.FIRST_COMPLETED)
            finally:
                changed.cancel()


def snapshot(
    previous: SuggestionSet,
    goals: tuple[str, ...],
    growth: Growth,
    rejected: list[tuple[Candidate, str]],
    timings: dict[str, float],
    started: float,
    limit: int,
) -> SuggestionSet:
    """`previous` grown to what `growth` shows (at most `limit` suggestions; final once nothing is
    pending), with a copy of `timings`: `first` is the milliseconds since `started` (perf_counter)
    until suggestions were first settled, `total` until the final set."""
    suggestions = ranked(growth.outcomes, limit)
    if "first" not in timings and growth.settled and suggestions:
        timings["first"] = ms_since(started)
    if not growth.pending:
        timings["total"] = ms_since(started)
        note = "" if suggestions else "no candidate passed Lean's check"
    else:
        note = f"waiting for {', '.join(growth.pending)}"
    outcomes = (*filtered_once(rejected), *growth.outcomes)
    return replace(
        previous, goals=goals, suggestions=suggestions, note=note, timings_ms=dict(timings),
        outcomes=outcomes, pending=growth.pending, settled=growth.settled,
    )  # fmt: skip


def ms_since(start: float) -> float:
    """Milliseconds since `start` (a `time.perf_counter()` reading): the unit of every timing."""
    return (time.perf_counter() - start) * 1000
