"""The OpenAI-compatible backend against a local HTTP server: formats, scores (the ranking is the
pipeline's, `offered`), failures, the key, and which goals a prompt holds (promptGoals)."""

from __future__ import annotations

import json
import logging
import math
import shlex
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from llmstep_lsp.config.settings import Settings
from llmstep_lsp.generation import GenerationRequest
from llmstep_lsp.generation.backends.openai_compatible import EndpointUnavailable, OpenAIGenerator
from llmstep_lsp.generation.ranking import merge_ranked
from tests.conftest import fake_lean_command
from tests.lsp_helpers import bullets_script
from tests.support.cli import run_cli
from tests.support.fake_openai import FakeOpenAI, Script, offered, openai_generator

GOAL = "f : ℕ → ℕ\nh : Monotone f\nn : ℕ\n⊢ f n ≤ f (n + 1)"
REQUEST = GenerationRequest(goal=GOAL, prefix="exact", theorem_name="monotone_step")


@pytest.fixture
def fake() -> Iterator[FakeOpenAI]:
    with FakeOpenAI() as server:
        yield server


def generator(endpoint: str, **settings: object) -> OpenAIGenerator:
    return openai_generator(endpoint, **settings)


async def test_completions_are_prefixed_and_scored_as_sampled_and_the_pipeline_filters_and_ranks(
    fake: FakeOpenAI,
) -> None:
    fake.script = Script(
        texts=[" h (Nat.le_succ _)\n[/TAC]", " h", " h (Nat.le_succ _)", " sorry", " monotone_step h"],
        logprobs=[[-0.1, -0.3], [-2.0], [-0.2, -0.3], [-0.01], [-0.05]],
    )
    candidates = await generator(fake.endpoint, numSamples=5).generate(REQUEST)
    # The backend gives every sample, prefixed and cut at the stop, scored, in sample order: the
    # duplicate and the texts the filter drops (`sorry`, the theorem's own name) included.
    assert [(c.tactic, c.score) for c in candidates] == [
        ("exact h (Nat.le_succ _)", -0.2), ("exact h", -2.0), ("exact h (Nat.le_succ _)", -0.25),
        ("exact sorry", -0.01), ("exact monotone_step h", -0.05),
    ]  # fmt: skip
    # The pipeline filters, merges (keeping the best score) and ranks them.
    ranked = merge_ranked(candidates, REQUEST.theorem_name)
    assert [(c.tactic, c.score) for c in ranked] == [("exact h (Nat.le_succ _)", -0.2), ("exact h", -2.0)]
    # proof search adds up totals along a path (GPT-f's cumulative log-prob), not means
    assert [round(c.log_prob or 0, 6) for c in ranked] == [-0.4, -2.0]
    body = fake.requests[0]["body"]
    assert fake.requests[0]["path"] == "/v1/completions"
    assert body["model"] == "EleutherAI/llemma_7b" and body["n"] == 5 and body["stop"] == ["[/TAC]", "\n"]
    assert body["prompt"].endswith("[STATE]\n" + GOAL + "\n[/STATE]\n[TAC]\nexact")


async def test_without_logprobs_candidates_rank_by_frequency(fake: FakeOpenAI) -> None:
    fake.script = Script(texts=[" a", " b", " b", " c", " b", " a"])
    candidates = await generator(fake.endpoint, numSamples=6).generate(REQUEST)
    # Each sample is scored by its text's share of the samples; the pipeline ranks by it.
    assert [(c.tactic, round(math.exp(c.score or 0) * 6)) for c in candidates] == [
        ("exact a", 2), ("exact b", 3), ("exact b", 3), ("exact c", 1), ("exact b", 3), ("exact a", 2),
    ]  # fmt: skip
    assert offered(candidates) == ["exact b", "exact a", "exact c"]


async def test_chat_whole_proof_models_give_the_next_tactic(fake: FakeOpenAI) -> None:
    statement = "theorem monotone_step (f : ℕ → ℕ) : Monotone f → ∀ n, f n ≤ f (n + 1) := by\n  intro h n"
    proof = f"```lean4\n{statement}\n  exact h (Nat.le_succ _)\n```"
    fake.script = Script(texts=[proof, "I cannot do that."])
    request = GenerationRequest(
        goal=GOAL,
        prefix="",
        declaration=statement,
    )
    candidates = await generator(fake.endpoint, preset="kimina-prover").generate(request)
    assert offered(candidates) == ["exact h (Nat.le_succ _)"]
    sent = fake.requests[0]
    assert sent["path"] == "/v1/chat/completions"
    assert [m["role"] for m in sent["body"]["messages"]] == ["system", "user"]


async def test_the_api_key_goes_only_in_the_header(
    fake: FakeOpenAI, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("MY_TEAM_KEY", "sk-test-secret-123")
    fake.script = Script(texts=[" h"], fail_first=5)
    gen = generator(fake.endpoint, apiKeyEnv="MY_TEAM_KEY", requestRetries=0)
    with caplog.at_level(logging.DEBUG), pytest.raises(EndpointUnavailable) as failure:
        await gen.generate(REQUEST)
    assert fake.requests[0]["headers"]["Authorization"] == "Bearer sk-test-secret-123"
    assert "sk-test-secret-123" not in str(failure.value)
    assert "sk-test-secret-123" not in caplog.text
    assert "MY_TEAM_KEY" in str(failure.value)  # the fix names the variable, never its value


async def test_transient_503s_are_retried_with_backoff(fake: FakeOpenAI) -> None:
    fake.script = Script(texts=[" h"], fail_first=1)
    candidates = await generator(fake.endpoint, requestRetries=1).generate(REQUEST)
    assert offered(candidates) == ["exact h"] and len(fake.requests) == 2


async def test_a_slow_endpoint_times_out_and_then_rests_without_waiting(fake: FakeOpenAI) -> None:
    fake.script = Script(texts=[" h"], delay_s=3)
    gen = generator(fake.endpoint, requestTimeoutS=0.5, requestRetries=0)
    with pytest.raises(EndpointUnavailable, match=r"no complete answer within 0\.5 s"):
        await gen.generate(REQUEST)
    with pytest.raises(EndpointUnavailable, match=r"asked again in 5 s"):
        await gen.generate(REQUEST)  # resting: answered at once, nothing sent
    assert len(fake.requests) == 1


async def test_an_endpoint_that_is_down_says_how_to_fix_it() -> None:
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    gen = generator(f"http://127.0.0.1:{port}/v1", requestRetries=1)
    with pytest.raises(EndpointUnavailable) as failure:
        await gen.generate(REQUEST)
    message = str(failure.value)
    assert f"127.0.0.1:{port}" in message and "cannot connect" in message and "Fix:" in message


@pytest.mark.parametrize("prompt_goals", ["main", "all"])
def test_prompt_goals_decides_which_goals_the_prompt_holds(
    fake: FakeOpenAI, lean_project: Path, fake_state: Path, tmp_path: Path, prompt_goals: str
) -> None:
    """After `constructor` two goals are open: the prompt `suggest` sends holds the first goal only
    under promptGoals "main", both (blank-line separated, main first) under "all"."""
    fake.script = Script(texts=[" exact hp"])
    path = lean_project / "Bullets.lean"
    before = "theorem and_intro (p q : Prop) (hp : p) (hq : q) : p ∧ q := by\n  constructor\n"
    path.write_text(before + "  sorry\n")
    settings = {
        "preset": "llemma",
        "endpoint": fake.endpoint,
        "numSamples": 1,
        "requestRetries": 0,
        "automationTactics": [],
        "promptGoals": prompt_goals,
    }
    lean = shlex.join(fake_lean_command(fake_state, script=bullets_script(tmp_path)))
    result = run_cli(
        "suggest", f"{path}:3:3", "--json", "--lean-command", lean, "--settings", json.dumps(settings)
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["suggestions"][0]["tactic"] == "exact hp"
    context = "p q : Prop\nhp : p\nhq : q\n"
    left, right = f"case left\n{context}⊢ p", f"case right\n{context}⊢ q"
    goal = left if prompt_goals == "main" else f"{left}\n\n{right}"
    (request,) = fake.requests
    prompt = request["body"]["prompt"]
    assert prompt[prompt.index("[STATE]\n") + len("[STATE]\n") : prompt.index("\n[/STATE]")] == goal
    assert prompt[prompt.index("[CTX]\n") + len("[CTX]\n") : prompt.index("\n[/CTX]")] == before


def test_prompt_goals_takes_only_main_or_all() -> None:
    settings, problems = Settings.from_mapping({"promptGoals": "main"})
    assert not problems and settings.prompt_goals == "main"
    refused = "setting 'promptGoals': Input should be 'all' or 'main' (got 'some')"
    assert Settings.from_mapping({"promptGoals": "some"})[1] == [refused]
