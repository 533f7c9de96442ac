"""Loading a Hugging Face model for local generation: the device, the dtype, and the weights.

torch and transformers are imported inside `load_model`, so the package imports without them. A
`.gguf` file is read through transformers' GGUF support (`generation/backends/gguf.py`).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from llmstep_lsp.config.presets import GenerationConfig
from llmstep_lsp.generation.backends.gguf import pretrained_source
from llmstep_lsp.generation.backends.hub import hub_arguments
from llmstep_lsp.generation.base import INSTALL_MODEL_BACKEND, ModelUnavailable, first_line
from llmstep_lsp.generation.guesses import RecentOutputs

log = logging.getLogger(__name__)


@dataclass
class LoadedModel:
    """A loaded model with its tokenizer, where it runs (`device`, `dtype` as torch names) and the
    sampler's per-model memory (token pieces, recent outputs for guesses)."""

    model: Any
    tokenizer: Any
    device: str
    dtype: str
    seq2seq: bool
    pieces: list[str] | None = None
    recent_outputs: RecentOutputs = field(default_factory=RecentOutputs)


def load_model(config: GenerationConfig) -> LoadedModel:
    """Load `config.model` (hub id, directory or `.gguf`) on the chosen device and dtype; raises
    `ModelUnavailable` with the fix (backend not installed, not found offline, not loadable).

    Where the files come from is settled first, in well under a second without torch: a model
    that is not cached while the hub is unreachable fails at once (`generation/backends/hub.py`)."""
    try:
        hub = hub_arguments(config.model)
        import torch
        import transformers
    except ImportError as err:
        raise ModelUnavailable(
            f"the model backend is not installed ({err.name} is missing). Fix: {INSTALL_MODEL_BACKEND}"
        ) from err
    # stderr is the editor's log panel: no progress bars there
    transformers.utils.logging.disable_progress_bar()  # type: ignore[no-untyped-call]
    device = choose_device(torch, config.device)
    dtype = choose_dtype(torch, device, config.dtype)
    seq2seq = config.backend == "transformers-seq2seq"
    auto_model = transformers.AutoModelForSeq2SeqLM if seq2seq else transformers.AutoModelForCausalLM
    log.info("loading model %s on %s (%s)", config.model, device, dtype)
    try:
        source, gguf = pretrained_source(config.model)
    except ImportError as err:
        raise ModelUnavailable(
            f"{err} ({config.model}). Fix: {INSTALL_MODEL_BACKEND}, or serve it with the llama.cpp backend"
        ) from err
    except FileNotFoundError as err:
        raise ModelUnavailable(
            f"{err}. Fix: set 'model' to an existing .gguf file or a model directory"
        ) from err
    if gguf:
        log.info("%s is a GGUF file: dequantised to %s (llama.cpp runs it quantised)", config.model, dtype)
    try:
        tokenizer = transformers.AutoTokenizer.from_pretrained(source, **gguf, **hub)
        model: Any = auto_model.from_pretrained(source, dtype=getattr(torch, dtype), **gguf, **hub)
        model.to(device)
    except Exception as err:  # OSError offline, ValueError bad config, RuntimeError out of memory, …
        raise ModelUnavailable(
            f"could not load the model '{config.model}': {first_line(err).rstrip('.')}. Fix: connect to the "
            f"network once so it downloads (or run `hf download {config.model}`), or set "
            "'model' to a local model directory, or pick a smaller 'preset'; `llmstep-lsp doctor` "
            "checks this."
        ) from err
    model.eval()
    log.info("model %s loaded on %s (%s)", config.model, device, dtype)
    return LoadedModel(model, tokenizer, device, dtype, seq2seq)


def choose_device(torch: Any, wanted: str) -> str:
    """`wanted`, or for "auto" the first of cuda, mps, cpu that this machine has."""
    if wanted != "auto":
        return wanted
    if torch.cuda.is_available():
        return "cuda"
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        return "mps"
    return "cpu"


def choose_dtype(torch: Any, device: str, wanted: str) -> str:
    """Half precision where the hardware computes in it; else float32.

    On CPUs with bf16 instructions (AVX512-BF16, AMX) bf16 weights made our sampler 1.7–1.9×
    faster; on the benchmark's model the next-token distributions differed from float32's by
    1e-4 nats a token (README, Benchmarks). Other CPUs would emulate bf16, slower than float32."""
    if wanted != "auto":
        return wanted
    if device.startswith("cuda"):
        return "bfloat16" if torch.cuda.is_bf16_supported() else "float16"
    if device == "mps":
        return "float16"
    return "bfloat16" if cpu_computes_bf16() else "float32"


def cpu_computes_bf16(cpuinfo: Path = Path("/proc/cpuinfo")) -> bool:
    """Whether the CPU has bf16 instructions, from Linux's CPU flags (elsewhere: unknown, no)."""
    try:
        text = cpuinfo.read_text(encoding="ascii", errors="replace")
    except OSError:
        return False
    for line in text.splitlines():
        if line.startswith("flags"):
            return bool({"avx512_bf16", "amx_bf16"} & set(line.partition(":")[2].split()))
    return False
