"""The typed settings object: editor mappings in, clear problems out."""

from __future__ import annotations

from llmstep_lsp.settings import Settings


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
    assert problems == ["setting 'numSamples': expected an integer, got 'many'"]


def test_unknown_keys_are_reported_but_the_rest_applies() -> None:
    settings, problems = Settings.from_mapping({"numSampels": 4, "maxSuggestions": 2})
    assert settings.max_suggestions == 2
    assert problems == ["unknown setting 'numSampels' (ignored)"]


def test_range_checks() -> None:
    settings, problems = Settings.from_mapping({"verifyConcurrency": 0, "goalTimeoutS": -1})
    assert settings == Settings()
    assert "setting 'verifyConcurrency' must be ≥ 1" in problems
    assert "setting 'goalTimeoutS' must be > 0" in problems
