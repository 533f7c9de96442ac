"""Model presets: one name selects a model, its backend, its prompt format and sampling defaults.

Settings resolve to a `GenerationConfig`: the preset's values, overridden by any explicit setting.
Users add presets under the `presets` setting, with the same fields (camelCase) plus, for a format
of their own, `template`, `stop`, `chat`, `system` and `output`.
"""

from __future__ import annotations

import dataclasses
import typing
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from llmstep_lsp.generation.backends.gguf import is_gguf
from llmstep_lsp.generation.formats import FORMATS, PromptFormat

Backend = Literal["transformers", "transformers-seq2seq", "openai", "openai-chat", "llama.cpp"]
BACKENDS: tuple[Backend, ...] = typing.get_args(Backend)
Dtype = Literal["auto", "float32", "bfloat16", "float16"]
"""Weights' dtype for local models; "auto" picks half precision where the hardware computes in it."""


@dataclass(frozen=True)
class Preset:
    """A named model with its backend, prompt format name and sampling defaults."""

    model: str
    backend: Backend
    format: str
    num_samples: int
    temperature: float
    max_new_tokens: int


BUILTIN_PRESETS: dict[str, Preset] = {
    # llmstep's own model: Pythia 2.8B fine-tuned on LeanDojo Benchmark 4 proofsteps.
    "llmstep": Preset("wellecks/llmstep-mathlib4-pythia2.8b", "transformers", "proofstep", 10, 0.5, 128),
    # ReProver's tactic generator (ByT5-small): the fast CPU option.
    "reprover": Preset(
        "kaiyuy/leandojo-lean4-tacgen-byt5-small", "transformers-seq2seq", "state", 10, 0.5, 128
    ),
    # LLEMMA 7B served by vLLM (or any OpenAI-compatible server), with the file as context.
    "llemma": Preset("EleutherAI/llemma_7b", "openai", "context-state-tactic", 8, 0.7, 128),
    # DeepSeek-Prover V1.5 as a completion model: it continues the proof line by line.
    "deepseek-prover": Preset("deepseek-ai/DeepSeek-Prover-V1.5-RL", "openai", "lean4-code", 8, 1.0, 128),
    # Kimina-Prover (chat, whole proofs): the next tactic is taken from each sampled proof.
    "kimina-prover": Preset("AI-MO/Kimina-Prover-Distill-1.7B", "openai-chat", "chat-proof", 4, 0.6, 4096),
}
DEFAULT_PRESET = "llmstep"


@dataclass(frozen=True)
class GenerationConfig:
    """Everything a generator needs: the resolved preset plus the runtime settings.

    Built by `Settings.generation()`, where every default lives; the fields mean what the
    settings of the same (camelCase) names mean there.
    """

    backend: Backend
    model: str
    format: PromptFormat
    num_samples: int
    temperature: float
    max_new_tokens: int
    device: str
    dtype: Dtype
    endpoint: str
    api_key_env: str
    request_timeout_s: float
    request_retries: int
    context_tokens: int
    context_window: int
    llama_server: str | None
    """The `llama-server` program for the `llama.cpp` backend (None: found on PATH or installed)."""


class PresetError(ValueError):
    """A preset, backend or format that does not exist or is malformed; the message says which."""


def resolve(
    preset_name: str,
    user_presets: Mapping[str, Any],
    overrides: Mapping[str, Any],
    runtime: Mapping[str, Any],
) -> GenerationConfig:
    """The generation config for `preset_name` with explicit `overrides` (None values ignored)."""
    preset, custom_format = _preset(preset_name, user_presets)
    values = {f.name: getattr(preset, f.name) for f in dataclasses.fields(Preset)}
    values.update({k: v for k, v in overrides.items() if v is not None})
    if values["backend"] not in BACKENDS:
        raise PresetError(f"unknown backend '{values['backend']}' (one of: {', '.join(BACKENDS)})")
    prompt_format = custom_format if custom_format and overrides.get("format") is None else None
    if prompt_format is None:
        if values["format"] not in FORMATS:
            raise PresetError(f"unknown prompt format '{values['format']}' (one of: {', '.join(FORMATS)})")
        prompt_format = FORMATS[values["format"]]
    # A chat format goes to a chat endpoint, or to a local causal model through its own chat
    # template (`tokenizer.apply_chat_template`); a completion format never to a chat endpoint. A
    # managed llama.cpp server takes both (its completion or its chat endpoint).
    if values["backend"] == "llama.cpp" and not is_gguf(str(values["model"])):
        raise PresetError(
            "backend llama.cpp runs a GGUF file: set 'model' to a path ending in .gguf "
            f"(it is {values['model']!r})"
        )
    chat_backends = ("openai-chat", "transformers", "llama.cpp")
    if values["backend"] not in chat_backends if prompt_format.chat else values["backend"] == "openai-chat":
        kind = "a chat" if prompt_format.chat else "a completion"
        raise PresetError(
            f"prompt format '{prompt_format.name}' is {kind} format; backend is '{values['backend']}'"
        )
    values.pop("format")
    return GenerationConfig(format=prompt_format, **values, **runtime)


def _preset(name: str, user_presets: Mapping[str, Any]) -> tuple[Preset, PromptFormat | None]:
    if name in user_presets:
        raw = user_presets[name]
        if not isinstance(raw, Mapping):
            raise PresetError(f"preset '{name}' must be an object")
        return _user_preset(name, raw)
    if name in BUILTIN_PRESETS:
        return BUILTIN_PRESETS[name], None
    known = sorted({*BUILTIN_PRESETS, *user_presets})
    raise PresetError(f"unknown preset '{name}' (known: {', '.join(known)})")


def _user_preset(name: str, raw: Mapping[str, Any]) -> tuple[Preset, PromptFormat | None]:
    try:
        base = BUILTIN_PRESETS[str(raw.get("basedOn", DEFAULT_PRESET))]
        preset = Preset(
            model=str(raw.get("model", base.model)),
            backend=raw.get("backend", base.backend),
            format=str(raw.get("format", base.format)),
            num_samples=int(raw.get("numSamples", base.num_samples)),
            temperature=float(raw.get("temperature", base.temperature)),
            max_new_tokens=int(raw.get("maxNewTokens", base.max_new_tokens)),
        )
        custom = None
        if "template" in raw:
            custom = PromptFormat(
                name=name,
                template=str(raw["template"]),
                stop=tuple(str(s) for s in raw.get("stop", ["\n"])),
                chat=bool(raw.get("chat", preset.backend == "openai-chat")),
                system=str(raw.get("system", "")),
                output="proof" if raw.get("output") == "proof" else "line",
            )
    except (TypeError, ValueError, KeyError) as err:
        raise PresetError(f"preset '{name}' is malformed: {err}") from err
    return preset, custom
