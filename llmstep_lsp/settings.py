"""The one home of configuration: a typed, validated settings object.

Editors send settings as `initializationOptions` and in `workspace/didChangeConfiguration`
(either flat or under an `llmstep` key), in camelCase (`numSamples`) or snake_case. The CLI builds
the same object from its flags. Bad values never half-apply: `Settings.from_mapping` returns the
defaults' fields untouched and reports every problem, so the server can say what was wrong.
"""

from __future__ import annotations

import dataclasses
import re
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from llmstep_lsp.generation.presets import DEFAULT_PRESET, GenerationConfig, PresetError, resolve

DEFAULT_AUTOMATION_TACTICS = (
    "rfl",
    "simp",
    "omega",
    "decide",
    "norm_num",
    "linarith",
    "positivity",
    "ring",
)


@dataclass(frozen=True)
class Settings:
    # Lean server
    lean_command: tuple[str, ...] | None = None
    """Command that starts the Lean server in the project root; default `lake serve -- …`."""
    project_root: str | None = None
    """Project root; default: walk up from the file to lakefile.lean/lakefile.toml/lean-toolchain."""
    lean_start_timeout_s: float = 120.0
    goal_timeout_s: float = 60.0
    verify_timeout_s: float = 20.0
    suggest_budget_s: float = 120.0
    verify_concurrency: int = 2
    verifier: str = "lean-server"
    """Who checks candidates: 'lean-server' (shadow documents) or 'repl' (leanprover-community/repl)."""
    repl_command: tuple[str, ...] | None = None
    """Command that starts the REPL in the project root, e.g. `lake env <repl>/.lake/build/bin/repl`."""
    repl_pool_size: int = 2
    """REPL processes per import header."""
    # Generation: a preset, and explicit values that override it (None = the preset's)
    preset: str = DEFAULT_PRESET
    model: str | None = None
    """Hugging Face id, local directory or served model name; '' = no model (model-free only)."""
    backend: str | None = None
    prompt_format: str | None = None
    num_samples: int | None = None
    temperature: float | None = None
    max_new_tokens: int | None = None
    device: str = "auto"
    dtype: str = "auto"
    endpoint: str = "http://127.0.0.1:8000/v1"
    api_key_env: str = "OPENAI_API_KEY"
    """Name of the environment variable holding the endpoint's API key (the key itself never
    goes in settings or logs)."""
    request_timeout_s: float = 30.0
    request_retries: int = 2
    context_tokens: int = 2048
    context_window: int = 8192
    """The served model's context in tokens: HTTP prompts are cut so that prompt + `maxNewTokens`
    fit (learned lower from the server's own refusal where it says its window)."""
    llama_server: str | None = None
    """llama.cpp's `llama-server` program for `backend: "llama.cpp"` (a path, or a name on PATH);
    default: `llama-server` on PATH, else llama-cpp-python's server (`llmstep-lsp[llamacpp]`)."""
    presets: dict[str, Any] = field(default_factory=dict)
    prompt_goals: str = "all"
    """Goals shown to the model: 'all' (LeanDojo/llmstep training style) or 'main' (the first)."""
    automation_tactics: tuple[str, ...] = DEFAULT_AUTOMATION_TACTICS
    # Proof search and whole proofs
    search_samples: int = 32
    """Tactics sampled per expanded node in proof search (llmstep's search: 32)."""
    search_iterations: int = 100
    """Most nodes one proof search expands (llmstep's search: 100)."""
    search_time_limit_s: float = 600.0
    """Wall-clock budget of one proof search (llmstep's search: 10 minutes)."""
    whole_proof_samples: int = 8
    """Complete proofs sampled by "Complete the proof" (whole-proof models); 0 hides the action."""
    # Publication
    max_suggestions: int = 8
    code_action_wait_ms: int = 2000
    """How long a code-action / inline-completion request waits before answering with what is ready."""
    hint_diagnostic: bool = True
    """Publish a hint diagnostic where verified suggestions are ready (makes the lightbulb appear)."""
    # Logging (stdout is the LSP pipe, so logs go to a file or stderr)
    log_file: str | None = None
    log_level: str = "INFO"

    @classmethod
    def from_mapping(
        cls, raw: Mapping[str, Any] | None, base: Settings | None = None
    ) -> tuple[Settings, list[str]]:
        """Settings from an editor's mapping, on top of `base`; returns (settings, problems)."""
        base = base or cls()
        if not raw:
            return base, []
        if isinstance(raw.get("llmstep"), Mapping):
            raw = raw["llmstep"]
        by_name = {f.name: f for f in dataclasses.fields(cls)}
        hints = typing.get_type_hints(cls)
        updates: dict[str, Any] = {}
        problems: list[str] = []
        for key, value in raw.items():
            name = _snake_case(key)
            if name not in by_name:
                problems.append(f"unknown setting '{key}' (ignored)")
                continue
            try:
                updates[name] = _coerce(value, hints[name])
            except (TypeError, ValueError) as err:
                problems.append(f"setting '{key}': {err}")
        if problems and any(not p.endswith("(ignored)") for p in problems):
            return base, problems
        settings = dataclasses.replace(base, **updates)
        if invalid := settings.validate():
            return base, problems + invalid
        return settings, problems

    def generation(self) -> GenerationConfig | None:
        """The resolved generation config; None when no model is wanted (`model: ""`)."""
        if self.model == "":
            return None
        config = resolve(
            self.preset,
            self.presets,
            {
                "model": self.model,
                "backend": self.backend,
                "format": self.prompt_format,
                "num_samples": self.num_samples,
                "temperature": self.temperature,
                "max_new_tokens": self.max_new_tokens,
            },
            {
                "device": self.device,
                "dtype": self.dtype,
                "endpoint": self.endpoint,
                "api_key_env": self.api_key_env,
                "request_timeout_s": self.request_timeout_s,
                "request_retries": self.request_retries,
                "context_tokens": self.context_tokens,
                "context_window": self.context_window,
                "llama_server": self.llama_server,
            },
        )
        return config if config.num_samples > 0 else None

    def validate(self) -> list[str]:
        problems = []
        if self.num_samples is not None and self.num_samples < 0:
            problems.append("setting 'numSamples' must be ≥ 0")
        if self.temperature is not None and self.temperature < 0:
            problems.append("setting 'temperature' must be ≥ 0")
        if self.max_new_tokens is not None and self.max_new_tokens < 1:
            problems.append("setting 'maxNewTokens' must be ≥ 1")
        if self.context_window < 1:
            problems.append("setting 'contextWindow' must be ≥ 1")
        if self.request_retries < 0:
            problems.append("setting 'requestRetries' must be ≥ 0")
        if self.prompt_goals not in ("all", "main"):
            problems.append("setting 'promptGoals' must be all or main")
        if self.dtype not in ("auto", "float32", "bfloat16", "float16"):
            problems.append("setting 'dtype' must be auto, float32, bfloat16 or float16")
        try:
            self.generation()
        except PresetError as err:
            problems.append(f"generation settings: {err}")
        for name in ("search_samples", "search_iterations"):
            if getattr(self, name) < 1:
                problems.append(f"setting '{_camel_case(name)}' must be ≥ 1")
        if self.whole_proof_samples < 0:
            problems.append("setting 'wholeProofSamples' must be ≥ 0")
        if self.verify_concurrency < 1:
            problems.append("setting 'verifyConcurrency' must be ≥ 1")
        if self.verifier not in ("lean-server", "repl"):
            problems.append("setting 'verifier' must be lean-server or repl")
        if self.verifier == "repl" and not self.repl_command:
            problems.append("setting 'verifier' is repl: set 'replCommand' to the REPL's command")
        if self.repl_pool_size < 1:
            problems.append("setting 'replPoolSize' must be ≥ 1")
        for name in (
            "lean_start_timeout_s",
            "goal_timeout_s",
            "verify_timeout_s",
            "suggest_budget_s",
            "request_timeout_s",
            "search_time_limit_s",
        ):
            if getattr(self, name) <= 0:
                problems.append(f"setting '{_camel_case(name)}' must be > 0")
        if self.lean_command is not None and not self.lean_command:
            problems.append("setting 'leanCommand' must not be empty")
        return problems


def _snake_case(key: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", key).lower()


def _camel_case(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)


def _coerce(value: Any, hint: Any) -> Any:
    """Check `value` against the field's type hint, converting JSON lists to tuples."""
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        options = typing.get_args(hint)
        if value is None and type(None) in options:
            return None
        inner = next(opt for opt in options if opt is not type(None))
        return _coerce(value, inner)
    if origin is dict:
        if not isinstance(value, Mapping):
            raise TypeError(f"expected an object, got {value!r}")
        return dict(value)
    if origin is tuple:
        if not isinstance(value, list | tuple) or not all(isinstance(v, str) for v in value):
            raise TypeError(f"expected a list of strings, got {value!r}")
        return tuple(value)
    if hint is float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise TypeError(f"expected a number, got {value!r}")
        return float(value)
    if hint is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise TypeError(f"expected an integer, got {value!r}")
        return value
    if hint is bool:
        if not isinstance(value, bool):
            raise TypeError(f"expected true or false, got {value!r}")
        return value
    if hint is str:
        if not isinstance(value, str):
            raise TypeError(f"expected a string, got {value!r}")
        return value
    raise TypeError(f"unsupported setting type {hint!r}")
