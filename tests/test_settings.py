"""The typed settings object: editor mappings in, clear problems out."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from llmstep_lsp.config.settings import Settings


def test_camel_and_snake_case_and_nested_llmstep_key() -> None:
    settings, problems = Settings.from_mapping(
        {"llmstep": {"numSamples": 4, "temperature": 1, "lean_command": ["lake", "serve"]}}
    )
    assert problems == []
    assert settings.num_samples == 4 and settings.temperature == 1.0
    assert settings.lean_command == ("lake", "serve")


def test_bad_values_change_nothing_and_say_why() -> None:
    base = Settings(num_samples=3)
    settings, problems = Settings.from_mapping({"numSamples": "many", "temperature": 0.1}, base)
    assert settings == base
    assert problems == ["setting 'numSamples': Input should be a valid integer (got 'many')"]


def test_unknown_keys_are_reported_but_the_rest_applies() -> None:
    settings, problems = Settings.from_mapping({"numSampels": 4, "maxSuggestions": 2})
    assert settings.max_suggestions == 2
    assert problems == ["unknown setting 'numSampels' (ignored)"]


def test_range_checks() -> None:
    settings, problems = Settings.from_mapping({"verifyConcurrency": 0, "goalTimeoutS": -1})
    assert settings == Settings()
    assert "setting 'verifyConcurrency': Input should be greater than or equal to 1 (got 0)" in problems
    assert "setting 'goalTimeoutS': Input should be greater than 0 (got -1)" in problems


def test_choices_are_checked_and_named() -> None:
    settings, problems = Settings.from_mapping({"verifier": "lean", "dtype": "fp8", "backend": "vllm"})
    assert settings == Settings()
    assert "setting 'verifier': Input should be 'lean-server' or 'repl' (got 'lean')" in problems
    assert any(p.startswith("setting 'dtype': Input should be 'auto', 'float32',") for p in problems)
    assert any(p.startswith("setting 'backend': Input should be 'transformers', ") for p in problems)
    assert len(problems) == 3


def test_json_types_are_strict_strings_are_not_numbers_and_lists_become_tuples() -> None:
    settings, problems = Settings.from_mapping({"temperature": "0.5", "automationTactics": "simp"})
    assert settings == Settings() and len(problems) == 2
    tactics_only = {"automationTactics": ["simp", "rfl"], "hintDiagnostic": False}
    settings, problems = Settings.from_mapping(tactics_only)
    assert problems == [] and settings.automation_tactics == ("simp", "rfl")
    assert not settings.hint_diagnostic


def test_settings_that_depend_on_each_other() -> None:
    settings, problems = Settings.from_mapping({"verifier": "repl"})
    assert settings == Settings()
    assert problems == ["setting 'verifier' is repl: set 'replCommand' to the REPL's command"]
    settings, problems = Settings.from_mapping({"preset": "nope"})
    assert problems[0].startswith("generation settings: unknown preset 'nope'")


def test_an_update_keeps_earlier_settings_and_settings_are_immutable() -> None:
    first, _ = Settings.from_mapping({"numSamples": 4})
    second, problems = Settings.from_mapping({"maxSuggestions": 3}, first)
    assert problems == [] and (second.num_samples, second.max_suggestions) == (4, 3)
    with pytest.raises(ValidationError):
        second.max_suggestions = 5  # type: ignore[misc]
