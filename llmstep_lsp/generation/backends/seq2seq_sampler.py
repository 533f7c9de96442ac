"""Sampling from encoder-decoder models (ReProver's ByT5 tactic generator) with `generate`.

The typed prefix is forced as the decoder's first tokens; samples stop at EOS or a stop string and
those cut off at `max_new_tokens` are dropped, as in the causal sampler.
"""

from __future__ import annotations

import threading
from typing import Any

from llmstep_lsp.generation.backends.causal_sampler import Sample, few_shapes, finish_sample, log_cut_off
from llmstep_lsp.generation.backends.hf_loading import LoadedModel


def sample_seq2seq(
    loaded: LoadedModel,
    prompt: str,
    prefix: str,
    n: int,
    temperature: float,
    max_new_tokens: int,
    stops: tuple[str, ...],
    cancel: threading.Event,
) -> list[Sample]:
    """N samples of an encoder-decoder; the typed prefix is forced as the decoder's first tokens."""
    import torch
    import transformers

    model, tokenizer = loaded.model, loaded.tokenizer
    eos = tokenizer.eos_token_id
    encoded = tokenizer([prompt], truncation=True, max_length=2048)
    length = few_shapes(len(encoded.input_ids[0]))
    encoded = tokenizer.pad(encoded, padding="max_length", max_length=length, return_tensors="pt").to(
        loaded.device
    )
    prefix_ids = tokenizer(prefix, add_special_tokens=False).input_ids if prefix else []
    decoder_ids = torch.tensor([[model.config.decoder_start_token_id, *prefix_ids]], device=loaded.device)
    stop_ids = {i for i in range(len(tokenizer)) if any(s in tokenizer.decode([i]) for s in stops if s)}

    class Stop(transformers.StoppingCriteria):
        def __call__(self, input_ids: Any, scores: Any, **kwargs: Any) -> Any:
            if cancel.is_set():
                return torch.ones(input_ids.shape[0], dtype=torch.bool, device=input_ids.device)
            last = input_ids[:, -1].tolist()
            return torch.tensor([t in stop_ids for t in last], dtype=torch.bool, device=input_ids.device)

    with torch.inference_mode():
        output = model.generate(
            **encoded,
            decoder_input_ids=decoder_ids,
            do_sample=temperature > 0,
            temperature=temperature if temperature > 0 else None,
            num_return_sequences=n,
            max_new_tokens=max_new_tokens,
            output_scores=True,
            return_dict_in_generate=True,
            stopping_criteria=transformers.StoppingCriteriaList([Stop()]),
        )
        scores = model.compute_transition_scores(output.sequences, output.scores, normalize_logits=True)
    if cancel.is_set():
        return []
    start = decoder_ids.shape[1]
    samples = []
    for row, row_scores in zip(output.sequences[:, start:].tolist(), scores.tolist(), strict=True):
        kept: list[int] = []
        for token in row:
            kept.append(token)
            if token == eos or token in stop_ids:
                break
        if kept and (kept[-1] == eos or kept[-1] in stop_ids):  # else cut off at max_new_tokens: dropped
            samples.append(finish_sample(tokenizer, kept, row_scores[: len(kept)], eos))
    log_cut_off(len(output.sequences) - len(samples), len(output.sequences), max_new_tokens)
    return samples
