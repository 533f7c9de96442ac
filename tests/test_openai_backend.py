"""The OpenAI-compatible backend against a local HTTP server: formats, ranking, failures, the key."""

from __future__ import annotations

import logging
import socket
from collections.abc import Iterator

import pytest

from llmstep_lsp.generation import GenerationRequest
from llmstep_lsp.generation.openai_backend import EndpointUnavailable, OpenAIGenerator
from llmstep_lsp.settings import Settings
from tests.support.fake_openai import FakeOpenAI, Script, openai_generator

GOAL = "f : ℕ → ℕ\nh : Monotone f\nn : ℕ\n⊢ f n ≤ f (n + 1)"
REQUEST = GenerationRequest(goal=GOAL, prefix="exact", theorem_name="monotone_step")


@pytest.fixture
def fake() -> Iterator[FakeOpenAI]:
    with FakeOpenAI() as server:
        yield server


def generator(endpoint: str, **settings: object) -> OpenAIGenerator:
    return openai_generator(endpoint, **settings)


async def test_completions_are_prefixed_filtered_deduplicated_and_ranked(fake: FakeOpenAI) -> None:
    fake.script = Script(
        texts=[" h (Nat.le_succ _)\n[/TAC]", " h", " h (Nat.le_succ _)", " sorry", " monotone_step h"],
        logprobs=[[-0.1, -0.3], [-2.0], [-0.2, -0.2], [-0.01], [-0.05]],
    )
    candidates = await generator(fake.endpoint).generate(REQUEST)
    assert [(c.tactic, c.score) for c in candidates] == [("exact h (Nat.le_succ _)", -0.2), ("exact h", -2.0)]
    # proof search adds up totals along a path (GPT-f's cumulative log-prob), not means
    assert [round(c.log_prob or 0, 6) for c in candidates] == [-0.4, -2.0]
    body = fake.requests[0]["body"]
    assert fake.requests[0]["path"] == "/v1/completions"
    assert body["model"] == "EleutherAI/llemma_7b" and body["n"] == 8 and body["stop"] == ["[/TAC]", "\n"]
    assert body["prompt"].endswith("[STATE]\n" + GOAL + "\n[/STATE]\n[TAC]\nexact")


async def test_without_logprobs_candidates_rank_by_frequency(fake: FakeOpenAI) -> None:
    fake.script = Script(texts=[" a", " b", " b", " c", " b", " a"])
    candidates = await generator(fake.endpoint, numSamples=6).generate(REQUEST)
    assert [c.tactic for c in candidates] == ["exact b", "exact a", "exact c"]


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
    assert [c.tactic for c in candidates] == ["exact h (Nat.le_succ _)"]
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
    assert [c.tactic for c in candidates] == ["exact h"] and len(fake.requests) == 2


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


async def test_prompt_goals_main_sends_only_the_first_goal(tmp_path: object) -> None:
    from llmstep_lsp.proof_modes import generation_request
    from llmstep_lsp.proofpoint import find_suggestion_point

    lines = ["theorem t : p ∧ q := by", "  constructor", "  "]
    point = find_suggestion_point(lines, 2)
    assert point is not None
    request = generation_request(lines, point, ("case left\n⊢ p", "case right\n⊢ q"))
    assert request.goal == "case left\n⊢ p\n\ncase right\n⊢ q" and request.theorem_name == "t"
    assert request.context == "theorem t : p ∧ q := by\n  constructor\n"
    settings, problems = Settings.from_mapping({"promptGoals": "main"})
    assert not problems and settings.prompt_goals == "main"
    assert Settings.from_mapping({"promptGoals": "some"})[1] == ["setting 'promptGoals' must be all or main"]
