"""Checks of the local sampler that any causal model must pass: the tiny test model and the real
SmolLM2 run the same ones, so what is proved on one is proved on a real architecture too."""

from __future__ import annotations

import threading
from typing import Any

import pytest

from bench.generation import ForwardCounter
from llmstep_lsp.generation import GenerationRequest
from llmstep_lsp.generation.backends import causal_sampler as backend
from llmstep_lsp.generation.backends.hf_loading import LoadedModel
from llmstep_lsp.generation.formats import FORMATS


def check_sampled_log_probs_match_a_plain_forward_pass(
    loaded: LoadedModel,
    monkeypatch: pytest.MonkeyPatch,
    goal: str,
    prefixes: tuple[str, ...],
    temperature: float = 0.8,
    abs_tol: float = 1e-4,
) -> tuple[list[int], list[int]]:
    """Sample 10 continuations per prefix; every token's reported log-prob must equal the one a plain
    forward pass over prompt + sample gives. Returns (forward passes, longest sample) per request."""
    import torch

    recorded: list[tuple[list[int], list[float]]] = []
    finish = backend.finish_sample

    def record(tokenizer: Any, tokens: list[int], logprobs: list[float], eos: int) -> backend.Sample:
        recorded.append((list(tokens), list(logprobs)))
        return finish(tokenizer, tokens, logprobs, eos)

    monkeypatch.setattr(backend, "finish_sample", record)
    counter = ForwardCounter(loaded.model)
    torch.manual_seed(0)
    passes, longest = [], []
    for prefix in prefixes:
        prompt = FORMATS["proofstep"].render(GenerationRequest(goal=goal, prefix=prefix))
        recorded.clear()
        before = counter.passes
        backend.sample_causal(loaded, prompt, 10, temperature, 40, ("\n",), threading.Event())
        passes.append(counter.passes - before)
        longest.append(max(len(tokens) for tokens, _ in recorded))
        prompt_ids = loaded.tokenizer(prompt).input_ids
        with torch.inference_mode():
            for tokens, logprobs in recorded:
                ids = torch.tensor([prompt_ids + tokens])
                logits = counter._forward(input_ids=ids).logits[0, len(prompt_ids) - 1 : -1].float()
                expected = torch.log_softmax(logits / temperature, dim=-1).gather(
                    1, ids[0, len(prompt_ids) :, None]
                )
                assert logprobs == pytest.approx(expected[:, 0].tolist(), abs=abs_tol), tokens
    return passes, longest


def check_greedy_equals_generate(loaded: LoadedModel, goal: str, prefixes: tuple[str, ...]) -> None:
    """Our greedy loop decodes the same first line as the library's own greedy `generate`."""
    import torch

    for prefix in prefixes:
        prompt = FORMATS["proofstep"].render(GenerationRequest(goal=goal, prefix=prefix))
        [(ours, _, _)] = backend.sample_causal(loaded, prompt, 1, 0.0, 40, ("\n",), threading.Event())
        ids = loaded.tokenizer(prompt, return_tensors="pt").input_ids
        pad = loaded.tokenizer.pad_token_id or 0
        with torch.inference_mode():
            out = loaded.model.generate(ids, do_sample=False, max_new_tokens=40, pad_token_id=pad)
        theirs = loaded.tokenizer.decode(out[0, ids.shape[1] :], skip_special_tokens=True)
        assert ours.split("\n")[0] == theirs.split("\n")[0], prefix
        assert ours.count("\n") <= 1, "sampling stopped at the end of the first line"
