"""The command line: `suggest` runs the whole pipeline once; `doctor` names every problem and its fix."""

from __future__ import annotations

import json
import shlex
import subprocess
from pathlib import Path

from tests.conftest import fake_lean_command
from tests.support import cli as support_cli


def run_cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return support_cli.run_cli(*args, env=env, timeout_s=120)


def line_of(text: str, needle: str) -> int:
    return next(i for i, line in enumerate(text.split("\n")) if line.startswith(needle)) + 1


def test_suggest_prints_ranked_verified_suggestions_as_json(
    lean_project: Path, fake_state: Path, tiny_model: Path
) -> None:
    path = lean_project / "Examples.lean"
    text = path.read_text()
    line = line_of(text, "theorem monotone_step ") + 2  # `  exact`, 1-based
    result = run_cli(
        "suggest",
        f"{path}:{line}:8",
        "--json",
        "--model",
        str(tiny_model),
        "--lean-command",
        shlex.join(fake_lean_command(fake_state)),
    )
    assert result.returncode == 0, result.stderr
    output = json.loads(result.stdout)
    assert output["goals"] == ["f : ℕ → ℕ\nh : Monotone f\nn : ℕ\n⊢ f n ≤ f (n + 1)"]
    # Loading the model (seconds) is its own stage, not folded into generation.
    assert set(output["timings_ms"]) >= {"goal", "load", "generate", "verify", "total"}
    statuses = [s["status"] for s in output["suggestions"]]
    assert statuses and statuses[0] == "closes"
    assert all(s["tactic"].startswith("exact") for s in output["suggestions"])
    assert path.read_text() == text


def test_suggest_with_a_prefix_and_no_model(lean_project: Path, fake_state: Path) -> None:
    path = lean_project / "Examples.lean"
    line = line_of(path.read_text(), "theorem two_eq_two ") + 1
    result = run_cli(
        "suggest",
        f"{path}:{line}:3",
        "--prefix",
        "n",
        "--model",
        "",
        "--lean-command",
        shlex.join(fake_lean_command(fake_state)),
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == ["Try this: norm_num (closes goal)"]


def test_suggest_rejects_bad_locations_clearly(tmp_path: Path) -> None:
    result = run_cli("suggest", "nowhere.lean")
    assert result.returncode == 2 and "FILE:LINE:COL" in result.stderr
    missing = run_cli("suggest", f"{tmp_path}/missing.lean:1:1")
    assert missing.returncode == 2 and "cannot read" in missing.stderr


def test_doctor_names_each_problem_with_its_fix(lean_project: Path, tmp_path: Path) -> None:
    empty_path = tmp_path / "bin"
    empty_path.mkdir()
    result = run_cli(
        "doctor",
        str(lean_project / "Examples.lean"),
        "--model",
        "/nonexistent/model",
        env={"PATH": str(empty_path)},
    )
    assert result.returncode == 1
    out = result.stdout
    assert "lake: not on PATH" in out and "elan" in out
    assert f"project root: {lean_project}" in out and "lake serve -- -Dserver.reportDelayMs=0" in out
    assert "/nonexistent/model" in out and "Fix:" in out


def test_doctor_speaks_of_the_configured_model_and_of_the_file_it_was_given(
    lean_project: Path, tiny_model: Path, tmp_path: Path
) -> None:
    small = run_cli("doctor", str(lean_project / "Examples.lean"), "--model", str(tiny_model))
    assert "2.8B" not in small.stdout and "smaller model" not in small.stdout, "a tiny model is not slow"
    assert f"model: {tiny_model} loads" in small.stdout
    no_model = run_cli("doctor", str(lean_project / "Examples.lean"), "--model", "")
    assert "device:" not in no_model.stdout and "smaller model" not in no_model.stdout
    assert "model: none configured" in no_model.stdout
    missing = run_cli("doctor", str(tmp_path / "Nowhere.lean"), "--model", "")
    assert missing.returncode == 1 and "Nowhere.lean: no such file or directory" in missing.stdout
    assert "all good" not in missing.stdout
    directory = run_cli("doctor", str(lean_project), "--model", "")
    assert "no such file" not in directory.stdout, "a project directory is what --help offers"
    broken = run_cli("doctor", str(lean_project / "Examples.lean"), "--model", "/nonexistent/model")
    assert "suggestions come from the model-free tactics alone" in broken.stdout


def test_every_option_of_every_command_says_what_it_does() -> None:
    import argparse

    from llmstep_lsp.cli import _parser

    def walk(parser: argparse.ArgumentParser, path: str) -> list[str]:
        missing = []
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                for name, child in action.choices.items():
                    missing += walk(child, f"{path} {name}")
            elif not action.help and action.dest != "help":
                missing.append(f"{path} {'/'.join(action.option_strings) or action.dest}")
        return missing

    assert walk(_parser(), "llmstep-lsp") == []


def test_version_names_the_installed_release() -> None:
    result = run_cli("--version")
    assert result.returncode == 0 and result.stdout.strip() == "llmstep-lsp 0.1.0"
