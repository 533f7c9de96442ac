"""Engine behaviour: a model backend that breaks mid-generation, the progressive pipeline (each
source verified on its own, the result growing), and what one request computes once (the fake Lean)."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import pytest

from llmstep_lsp.config.settings import Settings
from llmstep_lsp.generation import Candidate, GenerationRequest
from llmstep_lsp.generation.automation import AutomationGenerator
from llmstep_lsp.lean.errors import LeanError
from llmstep_lsp.pipeline.engine import SuggestionEngine
from llmstep_lsp.pipeline.growth import CandidateSources, Growth, grow, ranked
from llmstep_lsp.pipeline.health import Notices
from llmstep_lsp.pipeline.results import Status
from llmstep_lsp.text import suggestion_point
from llmstep_lsp.text.documents import DocumentStore
from llmstep_lsp.verification.batch import Outcome, outcome_of
from llmstep_lsp.verification.verifier import CheckResult, Verdict
from tests.conftest import fake_lean_command
from tests.lsp_helpers import TWO_EQ_TWO_TACTICS, proof_line


class Channel:
    def __init__(self) -> None:
        self.shown: list[tuple[str, str]] = []

    def show(self, severity: str, message: str) -> None:
        self.shown.append((severity, message))

    def status(self, state: Status, message: str) -> None:
        pass

    def suggestions_ready(self, result: object) -> None:
        pass


class CrashingModel:
    config = None
    load_pending = False  # loaded: nothing to announce

    async def load(self) -> None:
        pass

    async def generate(self, request: GenerationRequest) -> list[Candidate]:
        raise RuntimeError("CUDA out of memory")


async def test_a_crashing_backend_degrades_to_model_free_candidates_and_says_so_once() -> None:
    channel = Channel()
    settings = Settings(model="", automation_tactics=("rfl", "simp"))
    engine = SuggestionEngine(settings, channel, DocumentStore())
    engine.model = engine.sources.model = CrashingModel()  # type: ignore[assignment]
    request = GenerationRequest(goal="⊢ 2 = 2")
    for _ in range(2):
        candidates = await engine.sources.all(request)
        assert [c.tactic for c in candidates] == ["rfl", "simp"]
    assert len(channel.shown) == 1 and "CUDA out of memory" in channel.shown[0][1]


# --- the progressive pipeline (pipeline.grow) -------------------------------------------------

CLOSING = {"rfl", "decide", "simp"}


async def lean_check(candidate: Candidate) -> list[Outcome]:
    """A stand-in for Lean: the texts in CLOSING close the goal, the rest fail."""
    verdict = Verdict.CLOSES if candidate.tactic in CLOSING else Verdict.INVALID
    return [outcome_of(candidate, CheckResult(candidate.tactic, verdict))]


async def test_the_model_free_candidates_settle_before_the_model_answers_and_the_final_rank_is_fixed() -> (
    None
):
    model_may_answer = asyncio.Event()
    checked: list[str] = []

    async def model() -> list[Candidate]:
        await model_may_answer.wait()
        return [Candidate("simp", -0.5, "model"), Candidate("decide", -0.1, "model")]

    async def automation() -> list[Candidate]:
        return [Candidate("rfl", None, "automation"), Candidate("simp", None, "automation")]

    async def check(candidate: Candidate) -> list[Outcome]:
        checked.append(candidate.tactic)
        return await lean_check(candidate)

    snapshots: list[Growth] = []

    def step(growth: Growth) -> None:
        snapshots.append(growth)
        if growth.settled and growth.outcomes:
            model_may_answer.set()  # the model answers only once the model-free ones are settled

    final = await grow([("model", model), ("automation", automation)], check, None, [], step)
    first_settled = next(s for s in snapshots if s.settled and s.outcomes)
    assert first_settled.pending == ("model",)
    assert [o.candidate.tactic for o in first_settled.outcomes] == ["rfl", "simp"]
    assert final.pending == () and final.settled
    # Scored (the model's) first, best first, then the model-free ones: as if all had come at once;
    # `simp`, proposed by both, was checked once and stands with the model's score.
    assert [(o.candidate.tactic, o.candidate.source) for o in final.outcomes] == [
        ("decide", "model"), ("simp", "model"), ("rfl", "automation"),
    ]  # fmt: skip
    assert sorted(checked) == ["decide", "rfl", "simp"]
    assert [s.tactic for s in ranked(final.outcomes, 10)] == ["decide", "simp", "rfl"]


class SampledModel:
    """A model backend as backends are: every sample as drawn, scored; nothing filtered or merged."""

    config = None
    load_pending = False

    async def load(self) -> None:
        pass

    async def generate(self, request: GenerationRequest) -> list[Candidate]:
        return [
            Candidate("simp", -1.5, "model"),
            Candidate("sorry", -0.01, "model"),
            Candidate("exact  h", -0.9, "model"),
            Candidate("exact two_eq_two", -0.05, "model"),
            Candidate("exact h", -0.3, "model"),
            Candidate("simp", -1.0, "model"),
        ]


async def test_the_pipeline_filters_merges_and_ranks_the_sources_answers_once() -> None:
    """Backends give their samples untouched; the product's one `merge_ranked` (in `grow`) drops
    what the filter refuses, merges duplicates keeping the best score, and puts the model's, by
    score, before the model-free ones."""

    async def loaded() -> None:
        pass

    notices = Notices(lambda severity, message: None)
    sources = CandidateSources(SampledModel(), AutomationGenerator(("rfl", "simp")), notices, loaded)  # type: ignore[arg-type]
    request = GenerationRequest(goal="⊢ 2 = 2", theorem_name="two_eq_two")
    checked: list[str] = []

    async def check(candidate: Candidate) -> list[Outcome]:
        checked.append(candidate.tactic)
        return await lean_check(candidate)

    rejected: list[tuple[Candidate, str]] = []
    final = await grow(sources.runs(request, {}), check, request.theorem_name, rejected, lambda growth: None)
    assert [(o.candidate.tactic, o.candidate.score, o.candidate.source) for o in final.outcomes] == [
        ("exact h", -0.3, "model"), ("simp", -1.0, "model"), ("rfl", None, "automation"),
    ]  # fmt: skip
    assert sorted(checked) == ["exact h", "rfl", "simp"], "each text checked once"
    assert [c.tactic for c, _ in rejected] == ["sorry", "exact two_eq_two"]
    assert [s.tactic for s in ranked(final.outcomes, 10)] == ["simp", "rfl"]  # closing first
    # Proof search takes every source at once through the same ranking.
    assert [(c.tactic, c.score) for c in await sources.all(request)] == [
        ("exact h", -0.3), ("simp", -1.0), ("rfl", None),
    ]  # fmt: skip


async def test_a_lean_failure_ends_the_growth_and_cancels_the_model() -> None:
    model_cancelled = asyncio.Event()

    async def model() -> list[Candidate]:
        try:
            await asyncio.Event().wait()
        finally:
            model_cancelled.set()
        return []

    async def automation() -> list[Candidate]:
        return [Candidate("rfl", None, "automation")]

    async def broken(candidate: Candidate) -> list[Outcome]:
        raise LeanError("the Lean server died")

    with pytest.raises(LeanError, match="died"):
        await grow([("model", model), ("automation", automation)], broken, None, [], lambda growth: None)
    assert model_cancelled.is_set()


# --- one request, through the engine and the fake Lean ----------------------------------------


async def test_one_request_finds_the_enclosing_declaration_once_however_many_candidates_it_checks(
    lean_project: Path, fake_state: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The point carries its declaration (issue 19): the goal probe, every candidate's probe and
    every closing candidate's `#print axioms` probe read it instead of finding it again."""
    original = suggestion_point.enclosing_declaration
    calls: list[int] = []

    def counted(lines: list[str], line: int) -> suggestion_point.Declaration | None:
        calls.append(line)
        return original(lines, line)

    for module in [m for name, m in sys.modules.items() if name.startswith("llmstep_lsp")]:
        if getattr(module, "enclosing_declaration", None) is original:
            monkeypatch.setattr(module, "enclosing_declaration", counted)
    lean = tuple(fake_lean_command(fake_state))
    settings = Settings(model="", automation_tactics=tuple(TWO_EQ_TWO_TACTICS), lean_command=lean)
    documents = DocumentStore()
    engine = SuggestionEngine(settings, Channel(), documents)
    path = lean_project / "Examples.lean"
    uri, text = path.as_uri(), path.read_text()
    line = proof_line(text, "two_eq_two", 1)
    documents.open(uri, 1, text)
    try:
        await engine.document_opened(uri)
        result = await engine.suggest(uri, 1, text, line)
    finally:
        await engine.shutdown()
    closing = [s.tactic for s in result.suggestions if s.closes]
    assert closing == ["rfl", "simp", "decide"], result.note  # 4 checked, 3 probed for `sorry` too
    assert calls == [line]
