"""The local generator: Hugging Face models in this process, causal LMs (llmstep's Pythia) and
encoder-decoders (ReProver's ByT5), behind the same `generate` as the HTTP backends.

The model is loaded once per process in a worker thread (`hf_loading.py`: device and dtype chosen
for the machine). Sampling (`causal_sampler.py`, `seq2seq_sampler.py`) runs in a thread so the
event loop keeps serving; a cancelled request stops the loop at its next token, and the next model
call waits until that thread has returned (`threads.py`).
"""

from __future__ import annotations

import asyncio
import threading
from typing import Any

from llmstep_lsp.config.presets import GenerationConfig
from llmstep_lsp.generation.backends.causal_sampler import Sample, sample_causal
from llmstep_lsp.generation.backends.hf_loading import LoadedModel, load_model
from llmstep_lsp.generation.backends.seq2seq_sampler import sample_seq2seq
from llmstep_lsp.generation.backends.threads import run_to_the_end
from llmstep_lsp.generation.base import (
    Candidate,
    GenerationRequest,
    ModelUnavailable,
)
from llmstep_lsp.generation.formats import tail_at_line
from llmstep_lsp.generation.ranking import scored_samples


class TransformersGenerator:
    """A Hugging Face model sampled in this process; one `generate` at a time per model.

    `generate(request)` returns one `Candidate` per sample (at most `num_samples`; mean token
    log-prob as score), in sample order, unfiltered (`Generator.generate`). Raises
    `ModelUnavailable` (remembered) when the model cannot be loaded or the prompt format does not
    fit it.
    """

    def __init__(self, config: GenerationConfig) -> None:
        self.config = config
        self._loaded: LoadedModel | None = None
        self._failure: ModelUnavailable | None = None
        self._load_lock = asyncio.Lock()
        self._generate_lock = asyncio.Lock()

    load_pending = False  # the weights stay loaded: only the first load (announced by its caller)

    @property
    def loaded(self) -> LoadedModel | None:
        """The loaded model, or None before the first successful `load`."""
        return self._loaded

    async def close(self) -> None:
        """Nothing to release: the weights go with the object."""

    async def load(self) -> LoadedModel:
        """Load the model once; raises `ModelUnavailable` (remembered) when it cannot be loaded."""
        async with self._load_lock:
            if self._loaded is None:
                if self._failure is not None:
                    raise self._failure
                try:
                    self._loaded = await asyncio.to_thread(load_model, self.config)
                except ModelUnavailable as err:
                    self._failure = err
                    raise
            return self._loaded

    async def generate(self, request: GenerationRequest) -> list[Candidate]:
        """Sampled next tactics for `request`, in sample order, scored (`Generator.generate`); raises
        `ModelUnavailable`."""
        loaded = await self.load()
        prompt = self._prompt(loaded, request)
        stop = threading.Event()
        async with self._generate_lock:  # held until the thread returns, even when cancelled
            samples = await run_to_the_end(
                stop, self._sample, loaded, prompt, request.prefix, request.num_samples, stop
            )
        tactic_of = self.config.format.tactic_from
        tactics = [(tactic_of(text, request), mean, total) for text, mean, total in samples]
        return scored_samples((t, mean, total) for t, mean, total in tactics if t)

    def _prompt(self, loaded: LoadedModel, request: GenerationRequest) -> str:
        """The prompt text; a chat format goes through the model's own chat template (an instruct
        model answers in the format it was tuned on). Raises `ModelUnavailable` for a chat format on
        a model without a chat template."""
        c = self.config
        context = None
        if c.format.uses_context:
            context = tail_in_tokens(loaded.tokenizer, request.context, c.context_tokens)
        prompt = c.format.render(request, context)
        if not c.format.chat:
            return prompt
        if not getattr(loaded.tokenizer, "chat_template", None):
            raise ModelUnavailable(
                f"prompt format '{c.format.name}' is a chat format, and {c.model} has no chat template."
                " Fix: pick a completion 'promptFormat' (proofstep, state-tactic, …) or a chat model"
            )
        messages = [{"role": "system", "content": c.format.system}] if c.format.system else []
        messages.append({"role": "user", "content": prompt})
        return str(loaded.tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True))

    async def sample_texts(
        self, request: GenerationRequest, stop: tuple[str, ...], max_tokens: int
    ) -> list[tuple[str, float | None]]:
        """The raw sampled texts with their mean token log-probs (whole proofs use other stops)."""
        loaded = await self.load()
        if loaded.seq2seq:
            raise ModelUnavailable("whole-proof sampling needs a causal model, not a seq2seq one")
        c = self.config
        prompt = self._prompt(loaded, request)
        n = (request.num_samples or c.num_samples) if c.temperature > 0 else 1
        halt = threading.Event()
        async with self._generate_lock:
            samples = await run_to_the_end(
                halt, sample_causal, loaded, prompt, n, c.temperature, max_tokens, stop, halt
            )
        return [(text, mean) for text, mean, _ in samples]

    def _sample(
        self, loaded: LoadedModel, prompt: str, prefix: str, num_samples: int | None, stop: threading.Event
    ) -> list[Sample]:
        c = self.config
        n = (num_samples or c.num_samples) if c.temperature > 0 else 1
        if loaded.seq2seq:
            return sample_seq2seq(
                loaded, prompt, prefix, n, c.temperature, c.max_new_tokens, c.format.stop, stop
            )
        return sample_causal(loaded, prompt, n, c.temperature, c.max_new_tokens, c.format.stop, stop)


def tail_in_tokens(tokenizer: Any, text: str, budget: int) -> str:
    """The end of `text` that fits in `budget` tokens, cut at a line start."""
    ids = tokenizer(text, add_special_tokens=False).input_ids
    if len(ids) <= budget:
        return text
    tail = str(tokenizer.decode(ids[-budget:]))
    return tail_at_line(tail, len(tail) - 1)
