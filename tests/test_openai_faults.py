"""What any OpenAI-compatible server may do, and what the user then gets (fake endpoint: faults a real
server cannot be made to show on demand; llama.cpp's own behaviour is tested against the real server)."""

from __future__ import annotations

import email.utils
import logging
import time
from collections.abc import Iterator
from typing import Any

import pytest

from llmstep_lsp.generation import GenerationRequest
from llmstep_lsp.generation.backends import openai_http
from llmstep_lsp.generation.backends.openai_compatible import (
    EndpointUnavailable,
    OpenAIGenerator,
    RequestFailed,
)
from llmstep_lsp.generation.backends.prompt_budget import cut_goals
from tests.support.fake_openai import FakeOpenAI, Script, offered, openai_generator

GOAL = "f : ℕ → ℕ\nh : Monotone f\nn : ℕ\n⊢ f n ≤ f (n + 1)"
REQUEST = GenerationRequest(goal=GOAL, prefix="exact", theorem_name="monotone_step")


@pytest.fixture
def fake() -> Iterator[FakeOpenAI]:
    with FakeOpenAI() as server:
        yield server


@pytest.fixture
def waits(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """The back-off waits the HTTP layer asks for, taken at once (their length is what is checked)."""
    asked: list[float] = []
    real_sleep = openai_http.asyncio.sleep

    async def sleep(seconds: float) -> None:
        asked.append(seconds)
        await real_sleep(0)

    monkeypatch.setattr(openai_http.asyncio, "sleep", sleep)
    return asked


def generator(endpoint: str, **settings: object) -> OpenAIGenerator:
    return openai_generator(endpoint, **{"requestTimeoutS": 5, **settings})


async def test_a_server_that_drips_its_answer_is_cut_off_at_the_request_deadline(fake: FakeOpenAI) -> None:
    """httpx's timeout is per read: a byte every 50 ms never trips it, the whole answer takes ~20 s."""
    fake.script = Script(texts=[" h"], drip_s=0.05)
    gen = generator(fake.endpoint, requestTimeoutS=0.5, requestRetries=0)
    with pytest.raises(EndpointUnavailable, match=r"no complete answer within 0\.5 s"):
        await gen.generate(REQUEST)


@pytest.mark.parametrize("header", ["2", "HTTP-date"])
async def test_retry_after_is_obeyed_in_seconds_and_as_an_http_date(
    fake: FakeOpenAI, waits: list[float], header: str
) -> None:
    value = header if header != "HTTP-date" else email.utils.formatdate(time.time() + 3, usegmt=True)
    fake.script = Script(texts=[" h"], fail_first=1, fail_status=429, retry_after=value)
    candidates = await generator(fake.endpoint).generate(REQUEST)
    assert offered(candidates) == ["exact h"] and len(fake.requests) == 2
    [wait] = waits
    assert wait == 2.0 if header == "2" else 1.0 <= wait <= 3.0


async def test_a_retry_after_longer_than_a_request_rests_the_endpoint_that_long(
    fake: FakeOpenAI, waits: list[float]
) -> None:
    fake.script = Script(texts=[" h"], fail_first=5, fail_status=429, retry_after="120")
    gen = generator(fake.endpoint, requestRetries=2)
    with pytest.raises(EndpointUnavailable, match=r"HTTP 429.*asked again in 120 s"):
        await gen.generate(REQUEST)
    with pytest.raises(EndpointUnavailable):
        await gen.generate(REQUEST)
    assert len(fake.requests) == 1 and waits == [], "not retried sooner than the server asked"


async def test_an_answer_over_the_size_cap_is_cut_off_and_the_endpoint_stays_usable(
    fake: FakeOpenAI, caplog: pytest.LogCaptureFixture
) -> None:
    fake.script = Script(texts=[" h"], pad_bytes=10 << 20)
    gen = generator(fake.endpoint)
    with caplog.at_level(logging.WARNING), pytest.raises(RequestFailed, match="cut off"):
        await gen.generate(REQUEST)
    assert "was cut off" in caplog.text
    fake.script = Script(texts=[" h"])
    assert offered(await gen.generate(REQUEST)) == ["exact h"], "no rest after a bad answer"


@pytest.mark.parametrize(
    "body",
    [
        {"error": {"message": "unknown field 'stop'", "type": "invalid_request_error"}},
        {"error": "unknown field 'stop'"},
        {"message": "unknown field 'stop'"},
        {"detail": "unknown field 'stop'"},
        {"detail": [{"loc": ["body", "stop"], "msg": "unknown field 'stop'"}]},
        "unknown field 'stop'\n<html>trace</html>",
    ],
)
async def test_a_refused_request_quotes_the_servers_reason_and_never_rests(
    fake: FakeOpenAI, body: Any
) -> None:
    fake.script = Script(texts=[" h"], fail_first=1, fail_status=422, fail_body=body)
    gen = generator(fake.endpoint)
    with pytest.raises(RequestFailed) as refused:
        await gen.generate(REQUEST)
    message = str(refused.value)
    assert "HTTP 422: unknown field 'stop'" in message and "<html>" not in message
    assert "start the server" not in message, "the server is running: it refused this request"
    assert len(fake.requests) == 1, "a 4xx is not retried"
    assert offered(await gen.generate(REQUEST)) == ["exact h"], "nor does the endpoint rest"


async def test_n_above_a_llama_cpp_servers_slot_count_is_split_within_it(fake: FakeOpenAI) -> None:
    fake.script = Script(texts=[f" h{i}" for i in range(8)], max_n=4)
    gen = generator(fake.endpoint)
    candidates = await gen.generate(REQUEST)
    assert len(candidates) == 8, "numSamples samples, whatever the server's cap"
    assert [r["body"]["n"] for r in fake.requests] == [8, 4, 4]
    assert gen.n_cap == 4
    fake.requests.clear()
    await gen.generate(REQUEST)
    assert [r["body"]["n"] for r in fake.requests] == [4, 4], "the cap is remembered"


async def test_a_server_that_takes_only_one_choice_gets_one_request_a_sample(fake: FakeOpenAI) -> None:
    """Older llama.cpp servers refuse any `n` but 1 (after which `n` is never above 1 again)."""
    body = {"error": {"code": 400, "message": "Only one completion choice is allowed"}}
    fake.script = Script(texts=[f" h{i}" for i in range(8)], fail_first=1, fail_status=400, fail_body=body)
    gen = generator(fake.endpoint, numSamples=3)
    assert len(await gen.generate(REQUEST)) == 3
    assert [r["body"]["n"] for r in fake.requests] == [3, 1, 1, 1]


async def test_a_server_that_ignores_n_is_topped_up_to_num_samples(fake: FakeOpenAI) -> None:
    """Ollama returns one choice whatever `n` asks."""
    fake.script = Script(texts=[f" h{i}" for i in range(6)], max_choices=1)
    gen = generator(fake.endpoint, numSamples=6)
    assert len(await gen.generate(REQUEST)) == 6
    assert [r["body"]["n"] for r in fake.requests] == [6, 1, 1, 1, 1, 1]


async def test_log_probs_are_read_in_the_llama_cpp_shape_on_completions(fake: FakeOpenAI) -> None:
    fake.script = Script(texts=[" a", " b"], logprobs=[[-2.0], [-0.5]], logprobs_like_chat=True)
    candidates = await generator(fake.endpoint, numSamples=2).generate(REQUEST)
    assert [(c.tactic, c.score) for c in candidates] == [("exact a", -2.0), ("exact b", -0.5)]  # as sampled


async def test_a_chat_endpoint_that_refuses_logprobs_is_asked_without_them(fake: FakeOpenAI) -> None:
    statement = "theorem monotone_step (f : ℕ → ℕ) : Monotone f → ∀ n, f n ≤ f (n + 1) := by\n  intro h n"
    proofs = [f"```lean4\n{statement}\n  exact {t}\n```" for t in ("h a", "h b", "h b")]
    refusal = {"error": {"message": "logprobs is not supported by this model"}}
    fake.script = Script(texts=proofs, refuse=[("logprobs", 400, refusal)])
    gen = generator(fake.endpoint, preset="kimina-prover", numSamples=3)
    request = GenerationRequest(goal=GOAL, declaration=statement)
    candidates = await gen.generate(request)
    assert [c.tactic for c in candidates] == ["exact h a", "exact h b", "exact h b"]  # as sampled
    assert offered(candidates) == ["exact h b", "exact h a"], "ranked by frequency"
    assert "logprobs" in fake.requests[0]["body"] and "logprobs" not in fake.requests[-1]["body"]


async def test_every_prompt_is_cut_to_the_context_budget_before_it_is_sent(fake: FakeOpenAI) -> None:
    """A 100 KB goal once became a 136,000-character prompt."""
    hypotheses = "\n".join(f"h{i} : f {i} ≤ f ({i} + 1)" for i in range(5000))
    huge = f"{hypotheses}\n⊢ f n ≤ f (n + 1)\n\ncase b\n{hypotheses}\n⊢ True"
    fake.script = Script(texts=[" h"])
    gen = generator(fake.endpoint, contextWindow=1000, maxNewTokens=100)
    context = "".join(f"theorem t{i} : True := trivial\n" for i in range(2000))
    await gen.generate(GenerationRequest(goal=huge, prefix="exact", context=context))
    prompt = fake.requests[0]["body"]["prompt"]
    assert len(prompt) <= (1000 - 100) * 3
    assert "⊢ f n ≤ f (n + 1)" in prompt and "case b" not in prompt, "the main goal's target is kept"
    assert "theorem t1999" not in prompt, "the file context went first"


async def test_a_context_refusal_teaches_the_window_and_is_retried_once_cut_to_fit(fake: FakeOpenAI) -> None:
    context = "".join(f"lemma l{i} : True := trivial\n" for i in range(400))
    fake.script = Script(texts=[" h"], context_chars=3000)
    gen = generator(fake.endpoint, maxNewTokens=64, contextTokens=4096)
    candidates = await gen.generate(GenerationRequest(goal=GOAL, prefix="exact", context=context))
    assert offered(candidates) == ["exact h"]
    first, second = (r["body"]["prompt"] for r in fake.requests)
    assert len(first) > 3000 >= len(second) and second.count("\n") > 10, "cut at line starts, kept a tail"
    assert gen.context_window == 1000
    fake.requests.clear()
    await gen.generate(GenerationRequest(goal=GOAL, prefix="exact", context=context))
    assert len(fake.requests) == 1, "cut before sending from now on"


async def test_samples_longer_than_max_new_tokens_worth_of_text_never_reach_lean(fake: FakeOpenAI) -> None:
    fake.script = Script(texts=[" h", " " + "x" * 5000])
    candidates = await generator(fake.endpoint, numSamples=2, maxNewTokens=8).generate(REQUEST)
    assert [c.tactic for c in candidates] == ["exact h"]


def test_goals_are_cut_later_goals_first_then_the_main_goals_first_lines() -> None:
    goals = "a : A\nb : B\n⊢ P\n\ncase two\n⊢ Q"
    assert cut_goals(goals, 100) == goals
    assert cut_goals(goals, 20) == "a : A\nb : B\n⊢ P"
    assert cut_goals(goals, 10) == "b : B\n⊢ P"
    assert cut_goals(goals, 4) == "⊢ P"


async def test_samples_the_server_cut_off_at_max_tokens_are_dropped(fake: FakeOpenAI) -> None:
    """A repetition loop has a high mean log-prob: it must not rank first for being cut short."""
    loop = Script(texts=[" h", " h h h h"], logprobs=[[-1.0], [-0.1]], finish_reasons=["stop", "length"])
    fake.script = loop
    gen = generator(fake.endpoint, numSamples=2)
    candidates = await gen.generate(REQUEST)
    assert [c.tactic for c in candidates] == ["exact h"]
    # Dropping a cut-off sample is not a short answer: no `n` cap learned, no top-up request.
    assert gen.n_cap is None and len(fake.requests) == 1
