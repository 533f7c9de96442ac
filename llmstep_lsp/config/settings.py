"""The one home of configuration: a typed, validated settings model (pydantic v2).

Editors send settings as `initializationOptions` and in `workspace/didChangeConfiguration`
(either flat or under an `llmstep` key), in camelCase (`numSamples`) or snake_case. The CLI builds
the same object from its flags. Every default is written here once; `GenerationConfig` and the VS
Code extension's `contributes.configuration` take theirs from this model (a test compares the
manifest with `Settings.model_json_schema()`). Bad values never half-apply: `Settings.from_mapping`
keeps the base settings and reports every problem, so the server can say what was wrong.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator
from pydantic.alias_generators import to_camel

from llmstep_lsp.config.presets import (
    DEFAULT_PRESET,
    Backend,
    Dtype,
    GenerationConfig,
    PresetError,
    resolve,
)

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

VerifierKind = Literal["lean-server", "repl"]
"""Who checks candidates: shadow documents in our Lean server, or leanprover-community/repl."""
PromptGoals = Literal["all", "main"]
"""Goals shown to the model: all of them (LeanDojo/llmstep training style) or the first."""
LogLevel = Literal["DEBUG", "INFO", "WARNING", "ERROR"]

Seconds = float
_POSITIVE = Field(gt=0)


class Settings(BaseModel):
    """Every setting of the sidecar, immutable; fields are snake_case, editors send camelCase.

    Construct from an editor's mapping with `from_mapping` (which never raises), or directly with
    keyword arguments in tests and the CLI (which raises `pydantic.ValidationError` on bad values).
    """

    model_config = ConfigDict(
        frozen=True,
        strict=True,
        extra="forbid",
        alias_generator=to_camel,
        populate_by_name=True,
        validate_default=True,
    )

    # Lean server
    lean_command: tuple[str, ...] | None = Field(None, min_length=1)
    """Command that starts the Lean server in the project root; default `lake serve -- …`."""
    project_root: str | None = None
    """Project root; default: walk up from the file to lakefile.lean/lakefile.toml/lean-toolchain."""
    lean_start_timeout_s: Seconds = Field(120.0, gt=0)
    goal_timeout_s: Seconds = Field(60.0, gt=0)
    verify_timeout_s: Seconds = Field(20.0, gt=0)
    suggest_budget_s: Seconds = Field(120.0, gt=0)
    verify_concurrency: int = Field(2, ge=1)
    verifier: VerifierKind = "lean-server"
    repl_command: tuple[str, ...] | None = None
    """Command that starts the REPL in the project root, e.g. `lake env <repl>/.lake/build/bin/repl`."""
    repl_pool_size: int = Field(2, ge=1)
    """REPL processes per import header."""
    # Generation: a preset, and explicit values that override it (None = the preset's)
    preset: str = DEFAULT_PRESET
    model: str | None = None
    """Hugging Face id, local directory or served model name; '' = no model (model-free only)."""
    backend: Backend | None = None
    prompt_format: str | None = None
    num_samples: int | None = Field(None, ge=0)
    temperature: float | None = Field(None, ge=0)
    max_new_tokens: int | None = Field(None, ge=1)
    device: str = "auto"
    """'auto' (CUDA, then Apple's MPS, then CPU) or a torch device name such as 'cpu' or 'cuda:1'."""
    dtype: Dtype = "auto"
    endpoint: str = "http://127.0.0.1:8000/v1"
    api_key_env: str = "OPENAI_API_KEY"
    """Name of the environment variable holding the endpoint's API key (the key itself never
    goes in settings or logs)."""
    request_timeout_s: Seconds = Field(30.0, gt=0)
    request_retries: int = Field(2, ge=0)
    context_tokens: int = Field(2048, ge=0)
    context_window: int = Field(8192, ge=1)
    """The served model's context in tokens: HTTP prompts are cut so that prompt + `maxNewTokens`
    fit (learned lower from the server's own refusal where it says its window)."""
    llama_server: str | None = None
    """llama.cpp's `llama-server` program for `backend: "llama.cpp"` (a path, or a name on PATH);
    default: `llama-server` on PATH, else llama-cpp-python's server (`llmstep-lsp[llamacpp]`)."""
    presets: dict[str, Any] = Field(default_factory=dict)
    prompt_goals: PromptGoals = "all"
    automation_tactics: tuple[str, ...] = DEFAULT_AUTOMATION_TACTICS
    # Proof search and whole proofs
    search_samples: int = Field(32, ge=1)
    """Tactics sampled per expanded node in proof search (llmstep's search: 32)."""
    search_iterations: int = Field(100, ge=1)
    """Most nodes one proof search expands (llmstep's search: 100)."""
    search_time_limit_s: Seconds = Field(600.0, gt=0)
    """Wall-clock budget of one proof search (llmstep's search: 10 minutes)."""
    whole_proof_samples: int = Field(8, ge=0)
    """Complete proofs sampled by "Complete the proof" (whole-proof models); 0 hides the action."""
    # Publication
    max_suggestions: int = Field(8, ge=1)
    code_action_wait_ms: int = Field(2000, ge=0)
    """How long a code-action / inline-completion request waits before answering with what is ready."""
    hint_diagnostic: bool = True
    """Publish a hint diagnostic where verified suggestions are ready (makes the lightbulb appear)."""
    # Logging (stdout is the LSP pipe, so logs go to a file or stderr)
    log_file: str | None = None
    log_level: LogLevel = "INFO"

    @model_validator(mode="after")
    def _consistent(self) -> Settings:
        """Checks across fields: the REPL needs its command; the generation settings resolve."""
        if self.verifier == "repl" and not self.repl_command:
            raise ValueError("setting 'verifier' is repl: set 'replCommand' to the REPL's command")
        try:
            self.generation()
        except PresetError as err:
            raise ValueError(f"generation settings: {err}") from err
        return self

    @classmethod
    def from_mapping(
        cls, raw: Mapping[str, Any] | None, base: Settings | None = None
    ) -> tuple[Settings, list[str]]:
        """Settings from an editor's mapping on top of `base`: (settings, problems as sentences).

        Unknown keys are reported and ignored; any other problem keeps `base` whole. Values are
        validated as the JSON they arrived as (arrays become tuples; "5" is not a number).
        """
        base = base or cls()
        if not raw:
            return base, []
        if isinstance(raw.get("llmstep"), Mapping):
            raw = raw["llmstep"]
        known = {name: name for name in cls.model_fields} | {
            to_camel(name): name for name in cls.model_fields
        }
        updates: dict[str, Any] = {}
        problems: list[str] = []
        for key, value in raw.items():
            if key in known:
                updates[known[key]] = value
            else:
                problems.append(f"unknown setting '{key}' (ignored)")
        try:
            merged = {**base.model_dump(), **updates}
            return cls.model_validate_json(json.dumps(merged)), problems
        except (ValidationError, TypeError, ValueError) as err:
            return base, problems + _sentences(err)

    def generation(self) -> GenerationConfig | None:
        """The resolved generation config; None when no model is wanted (`model: ""`).

        Raises `PresetError` for an unknown preset, backend or format.
        """
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


def _sentences(err: Exception) -> list[str]:
    """One sentence per problem, naming the setting as the editor spells it (camelCase)."""
    if not isinstance(err, ValidationError):
        return [f"settings: {err}"]
    problems = []
    for error in err.errors(include_url=False):
        where = error["loc"][0] if error["loc"] else None
        message = error["msg"].removeprefix("Value error, ")
        if where is None:
            problems.append(message)
        else:
            got = f" (got {error['input']!r})" if error["type"] != "missing" else ""
            problems.append(f"setting '{to_camel(str(where))}': {message}{got}")
    return problems
