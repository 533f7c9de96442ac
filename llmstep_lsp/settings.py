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
from dataclasses import dataclass
from typing import Any

DEFAULT_MODEL = "wellecks/llmstep-mathlib4-pythia2.8b"
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
    # Generation
    model: str = DEFAULT_MODEL
    """Hugging Face model id or local directory; empty string = no model (model-free only)."""
    device: str = "auto"
    num_samples: int = 10
    temperature: float = 0.5
    max_new_tokens: int = 128
    automation_tactics: tuple[str, ...] = DEFAULT_AUTOMATION_TACTICS
    # Publication
    max_suggestions: int = 8
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

    def validate(self) -> list[str]:
        problems = []
        if self.num_samples < 0:
            problems.append("setting 'numSamples' must be ≥ 0")
        if self.temperature < 0:
            problems.append("setting 'temperature' must be ≥ 0")
        if self.max_new_tokens < 1:
            problems.append("setting 'maxNewTokens' must be ≥ 1")
        if self.verify_concurrency < 1:
            problems.append("setting 'verifyConcurrency' must be ≥ 1")
        for name in ("lean_start_timeout_s", "goal_timeout_s", "verify_timeout_s", "suggest_budget_s"):
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
    if hint is str:
        if not isinstance(value, str):
            raise TypeError(f"expected a string, got {value!r}")
        return value
    raise TypeError(f"unsupported setting type {hint!r}")
