"""Local generation with a Hugging Face causal LM (the llmstep default: Pythia fine-tuned on Mathlib).

torch and transformers are imported lazily, the model is loaded once per process in a worker
thread, and each request samples N continuations of the proofstep prompt; a sample stops at EOS
or at the end of its first line. Generation runs in a thread so the event loop keeps serving,
and a cancelled request stops the sampling loop at the next token.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from dataclasses import dataclass
from typing import Any

from llmstep_lsp.generation.base import Candidate, ModelUnavailable
from llmstep_lsp.generation.prompt import acceptable, first_line, merge_ranked, proofstep_prompt

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SamplingConfig:
    model: str
    device: str = "auto"
    num_samples: int = 10
    temperature: float = 0.5
    max_new_tokens: int = 128


class _Loaded:
    def __init__(self, model: Any, tokenizer: Any, device: str, newline_ids: set[int]) -> None:
        self.model = model
        self.tokenizer = tokenizer
        self.device = device
        self.newline_ids = newline_ids


class TransformersGenerator:
    def __init__(self, config: SamplingConfig) -> None:
        self.config = config
        self._loaded: _Loaded | None = None
        self._failure: ModelUnavailable | None = None
        self._load_lock = asyncio.Lock()
        self._generate_lock = asyncio.Lock()

    @property
    def device(self) -> str | None:
        return self._loaded.device if self._loaded else None

    async def load(self) -> None:
        """Load the model once; raises `ModelUnavailable` (remembered) when it cannot be loaded."""
        async with self._load_lock:
            if self._loaded is not None:
                return
            if self._failure is not None:
                raise self._failure
            try:
                self._loaded = await asyncio.to_thread(_load, self.config)
            except ModelUnavailable as err:
                self._failure = err
                raise

    async def generate(self, goal: str, prefix: str) -> list[Candidate]:
        if self.config.num_samples == 0:
            return []
        await self.load()
        assert self._loaded is not None
        stop = threading.Event()
        async with self._generate_lock:
            try:
                samples = await asyncio.to_thread(_sample, self._loaded, self.config, goal, prefix, stop)
            except asyncio.CancelledError:
                stop.set()  # the thread notices at its next token
                raise
        candidates = [
            Candidate(tactic=prefix + text, score=score, source="model")
            for text, score in samples
            if acceptable(prefix + text, prefix)
        ]
        return merge_ranked(candidates)


def _load(config: SamplingConfig) -> _Loaded:
    try:
        import torch
        import transformers
    except ImportError as err:
        raise ModelUnavailable(
            f"the model backend is not installed ({err.name} is missing). Fix: "
            "pip install torch==2.13.0 && pip install 'llmstep-lsp[model]'"
        ) from err
    # stderr is the editor's log panel: no progress bars there
    transformers.utils.logging.disable_progress_bar()  # type: ignore[no-untyped-call]
    device = _choose_device(torch, config.device)
    log.info("loading model %s on %s", config.model, device)
    try:
        tokenizer = transformers.AutoTokenizer.from_pretrained(config.model)
        model: Any = transformers.AutoModelForCausalLM.from_pretrained(config.model)
    except Exception as err:  # OSError offline, ValueError bad config, RuntimeError OOM, …
        raise ModelUnavailable(
            f"could not load the model '{config.model}': {_first_line(err)}. Fix: connect to the "
            f"network once so it downloads (or run `hf download {config.model}`), or set "
            "'model' to a local model directory; `llmstep-lsp doctor` checks this."
        ) from err
    model.to(device)
    model.eval()
    vocab_size = len(tokenizer)
    newline_ids = {i for i in range(vocab_size) if "\n" in tokenizer.decode([i])}
    log.info("model %s loaded on %s", config.model, device)
    return _Loaded(model, tokenizer, device, newline_ids)


def _choose_device(torch: Any, wanted: str) -> str:
    if wanted != "auto":
        return wanted
    if torch.cuda.is_available():
        return "cuda"
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        return "mps"
    return "cpu"


def _sample(
    loaded: _Loaded, config: SamplingConfig, goal: str, prefix: str, stop: threading.Event
) -> list[tuple[str, float]]:
    """(continuation, mean token log-prob) per sample, each cut at EOS or its first line break."""
    import torch
    import transformers

    tokenizer, model = loaded.tokenizer, loaded.model
    newline_ids = loaded.newline_ids

    class StopAtLineEnd(transformers.StoppingCriteria):
        def __call__(self, input_ids: Any, scores: Any, **kwargs: Any) -> Any:
            if stop.is_set():
                return torch.ones(input_ids.shape[0], dtype=torch.bool, device=input_ids.device)
            last = input_ids[:, -1].tolist()
            return torch.tensor([t in newline_ids for t in last], dtype=torch.bool, device=input_ids.device)

    inputs = tokenizer(proofstep_prompt(goal, prefix), return_tensors="pt").to(loaded.device)
    eos = tokenizer.eos_token_id
    with torch.inference_mode():
        output = model.generate(
            **inputs,
            do_sample=config.temperature > 0,
            temperature=config.temperature if config.temperature > 0 else None,
            num_return_sequences=config.num_samples if config.temperature > 0 else 1,
            max_new_tokens=config.max_new_tokens,
            pad_token_id=eos,
            eos_token_id=eos,
            output_scores=True,
            return_dict_in_generate=True,
            stopping_criteria=transformers.StoppingCriteriaList([StopAtLineEnd()]),
        )
        logprobs = model.compute_transition_scores(output.sequences, output.scores, normalize_logits=True)
    if stop.is_set():
        return []
    prompt_length = inputs["input_ids"].shape[1]
    samples = []
    for row, row_logprobs in zip(
        output.sequences[:, prompt_length:].tolist(), logprobs.tolist(), strict=True
    ):
        kept: list[int] = []
        for token in row:
            kept.append(token)
            if token == eos or token in newline_ids:
                break  # the stop token counts in the score: stopping here is the model's choice too
        text = first_line(tokenizer.decode(kept, skip_special_tokens=True))
        used = row_logprobs[: len(kept)]
        samples.append((text, sum(used) / max(1, len(used))))
    return samples


def _first_line(err: BaseException) -> str:
    return str(err).strip().split("\n", 1)[0][:300]
