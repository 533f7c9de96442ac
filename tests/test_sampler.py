"""The local sampler's speed machinery: guessed tokens checked by the model, and the CPU dtype.

Speculative steps must never change what is sampled: every token is drawn from the model's
distribution given its true history. The strongest check is that the log-prob the sampler reports
for each token equals the one a plain forward pass over prompt + sample gives (the cache rows with
masked-out rejected guesses and explicit positions must compute exactly that), while the number of
forward passes shows that guesses were taken.
"""

from __future__ import annotations

import threading
import warnings
from pathlib import Path
from typing import Any

import pytest

from bench.generation import ForwardCounter
from llmstep_lsp.config.settings import Settings
from llmstep_lsp.generation import GenerationRequest
from llmstep_lsp.generation.backends import causal_sampler as backend
from llmstep_lsp.generation.backends import hf_loading
from llmstep_lsp.generation.formats import FORMATS
from llmstep_lsp.generation.guesses import NgramGuesser, RecentOutputs
from tests.support.sampler_checks import check_sampled_log_probs_match_a_plain_forward_pass

MONOTONE_GOAL = "f : ℕ → ℕ\nh : Monotone f\nn : ℕ\n⊢ f n ≤ f (n + 1)"


def test_a_guess_is_what_followed_the_latest_occurrence_of_the_longest_matching_ngram() -> None:
    guesser = NgramGuesser()
    guesser.index([1, 2, 3, 4, 5, 9, 3, 7])
    assert guesser.guess([8, 2, 3], 3) == [4, 5, 9], "the 2-gram (2, 3) beats the later 1-gram (3)"
    assert guesser.guess([8, 8, 3], 3) == [7], "(3) alone: its latest occurrence, cut at the end"
    assert guesser.guess([6], 3) == [], "never seen"
    assert guesser.guess([2, 3], 0) == []


def test_guesses_follow_a_growing_history_and_never_its_own_unfinished_end() -> None:
    guesser = NgramGuesser()
    history = [5, 6, 7]
    guesser.index(history)
    assert guesser.guess(history, 4) == [], "the end of the history has no continuation yet"
    history += [5, 6]
    guesser.index(history, 3)
    assert guesser.guess(history, 4) == [7, 5, 6], "repeats itself: what followed (5, 6) before"
    history += [7, 1]
    guesser.index(history, 5)
    assert guesser.guess([0, 5, 6], 4) == [7, 1], "the latest occurrence, read from the list as it grew"


def test_earlier_outputs_are_guessed_from_after_this_requests_own_text_and_are_bounded() -> None:
    memory = RecentOutputs(capacity=4)
    memory.remember([1, 2, 3, 4])
    guesser = NgramGuesser(behind=memory.index)
    assert guesser.guess([9, 2], 2) == [3, 4], "from an earlier output"
    guesser.index([2, 7, 7])
    assert guesser.guess([9, 2], 2) == [7, 7], "this request's own text comes first"
    for i in range(10, 14):
        memory.remember([i, i + 100])
    assert len(memory) == 3, "full at 4: the older half was forgotten, then one more remembered"
    assert NgramGuesser(behind=memory.index).guess([2], 2) == [], "[1, 2, 3, 4] is forgotten"
    assert NgramGuesser(behind=memory.index).guess([13], 2) == [113]


def test_samples_walk_a_guess_only_while_their_draws_equal_it() -> None:
    """Row of samples 3, 4, 5 guessing [10, 11]. Draws per position (columns = the row's samples):
    all draw 10 at the guess's first position; at the second, sample 4 draws 12 and leaves (a new
    row, the guess's first token kept); 3 and 5 draw 11 and go on; at the last position 3 draws EOS
    and is done, 5 draws 13 (a new row with the whole guess kept)."""
    eos = 0
    row = backend._Row(samples=[3, 4, 5], history=[7, 7], text="ab")
    drawn = [[10, 10, 10], [11, 12, 11], [eos, 99, 13]]
    logprobs = [[-0.1, -0.2, -0.3], [-1.0, -2.0, -3.0], [-0.5, -9.0, -0.7]]
    tokens: list[list[int]] = [[] for _ in range(6)]
    token_logprobs: list[list[float]] = [[] for _ in range(6)]
    pieces = [""] + [f"<{i}>" for i in range(1, 100)]
    branches = backend._walk(
        row, [10, 11], drawn, logprobs, tokens, token_logprobs, pieces, eos, ("\n",), 100
    )
    assert [(b.samples, b.new_tokens, b.text) for b in branches] == [
        ([4], [10, 12], "ab<10><12>"),
        ([5], [10, 11, 13], "ab<10><11><13>"),
    ]
    assert tokens[3:] == [[10, 11, eos], [10, 12], [10, 11, 13]]
    assert token_logprobs[4] == [-0.2, -2.0], "each sample's own column, never the 99 it did not reach"


def test_a_sample_stops_at_the_token_limit_inside_a_guess() -> None:
    row = backend._Row(samples=[0], history=[7], text="")
    tokens: list[list[int]] = [[1, 2]]
    branches = backend._walk(
        row, [3, 4, 5], [[3], [4], [5], [6]], [[0.0]] * 4, tokens, [[0.0, 0.0]], ["x"] * 10, None, (), 4
    )
    assert branches == [] and tokens == [[1, 2, 3, 4]]


def test_guessed_steps_sample_exactly_the_models_distribution(
    tiny_model: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings, _ = Settings.from_mapping({"model": str(tiny_model), "dtype": "float32"})
    config = settings.generation()
    assert config is not None
    loaded = hf_loading.load_model(config)
    # The second request can guess from the first's outputs.
    passes, longest = check_sampled_log_probs_match_a_plain_forward_pass(
        loaded, monkeypatch, MONOTONE_GOAL, ("", "", "exact h (")
    )
    # Without guesses a request takes 1 pass + 1 per token of its longest sample.
    assert passes[1] < longest[1], f"guesses were taken: {passes} passes, longest samples {longest}"
    assert all(p <= 1 + n for p, n in zip(passes, longest, strict=True))


def test_bf16_is_the_cpu_default_only_where_the_cpu_computes_in_it(tmp_path: Path) -> None:
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text("processor\t: 0\nflags\t\t: fpu sse2 avx2 avx512f avx512_bf16 avx512_vnni\n")
    assert hf_loading.cpu_computes_bf16(cpuinfo)
    cpuinfo.write_text("processor\t: 0\nflags\t\t: fpu sse2 avx2 avx512f avx512_vnni\n")
    assert not hf_loading.cpu_computes_bf16(cpuinfo)
    assert not hf_loading.cpu_computes_bf16(tmp_path / "missing")
    import torch

    expected = "bfloat16" if hf_loading.cpu_computes_bf16() else "float32"
    assert hf_loading.choose_dtype(torch, "cpu", "auto") == expected
    assert hf_loading.choose_dtype(torch, "cpu", "float32") == "float32", "the setting wins"


def test_a_model_without_position_ids_is_sampled_one_token_a_pass(tiny_model: Path) -> None:
    """Rows advancing unevenly need explicit positions; a forward that takes none gets no guesses
    (and no `position_ids` argument), and samples as before."""
    import torch

    settings, _ = Settings.from_mapping({"model": str(tiny_model), "dtype": "float32"})
    config = settings.generation()
    assert config is not None
    loaded = hf_loading.load_model(config)
    forward = loaded.model.forward

    def no_positions(input_ids: Any, attention_mask: Any, past_key_values: Any, use_cache: bool) -> Any:
        return forward(
            input_ids=input_ids,
            attention_mask=attention_mask,
            past_key_values=past_key_values,
            use_cache=use_cache,
        )

    loaded.model.forward = no_positions
    counter = ForwardCounter(loaded.model)
    prompt = FORMATS["proofstep"].render(GenerationRequest(goal=MONOTONE_GOAL))
    torch.manual_seed(0)
    for _ in range(2):  # the second request has outputs to guess from, and must not
        before = counter.passes
        samples = backend.sample_causal(loaded, prompt, 1, 0.0, 40, ("\n",), threading.Event())
        [(text, _, _)] = samples
        assert text.startswith("exact h (Nat.le_succ")
        tokens = len(loaded.tokenizer(text).input_ids)
        assert counter.passes - before >= tokens, "one pass a token"


def test_prefill_lengths_are_rounded_to_few_shapes_at_most_a_quarter_longer() -> None:
    """CPU bf16 kernels are cached per shape: every prompt length of a session must not be one."""
    rounded = [backend.few_shapes(n) for n in range(1, 4097)]
    assert all(n <= r < n + max(16, n / 4) for n, r in enumerate(rounded, start=1))
    assert len(set(rounded)) <= 30, "a few dozen shapes for prompts up to 4096 tokens"
    assert backend.few_shapes(100) == 112 and backend.few_shapes(1024) == 1024


def test_sampling_passes_the_kv_cache_under_the_name_the_models_forward_takes(tiny_model: Path) -> None:
    """transformers 5.x renamed `past_key_values` to `cache` and removes the old name in 5.40: the
    sampler must not lean on the deprecated alias (it warned on every request), while a forward that
    still takes `past_key_values` (older releases; the test above) keeps working."""
    import logging

    import torch
    from transformers.utils import logging as hf_logging

    settings, _ = Settings.from_mapping({"model": str(tiny_model), "dtype": "float32"})
    config = settings.generation()
    assert config is not None
    loaded = hf_loading.load_model(config)
    records: list[logging.LogRecord] = []
    handler = logging.Handler()
    handler.emit = records.append  # type: ignore[method-assign]
    library_logger = hf_logging.get_logger("transformers")
    library_logger.addHandler(handler)
    logging.Logger.warning_once.cache_clear()  # type: ignore[attr-defined]  # warned once a process
    try:
        with warnings.catch_warnings(record=True) as warned:
            warnings.simplefilter("always")
            torch.manual_seed(0)
            prompt = FORMATS["proofstep"].render(GenerationRequest(goal=MONOTONE_GOAL))
            samples = backend.sample_causal(loaded, prompt, 4, 0.8, 40, ("\n",), threading.Event())
    finally:
        library_logger.removeHandler(handler)
    assert samples, "the model sampled"
    said = [r.getMessage() for r in records] + [str(w.message) for w in warned]
    assert [text for text in said if "deprecated" in text] == []
