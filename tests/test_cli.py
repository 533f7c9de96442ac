"""The command line: `suggest` runs the whole pipeline once; `doctor` names every problem and its fix."""

from __future__ import annotations

import json
import shlex
import shutil
import socket
import subprocess
import sys
from pathlib import Path

from tests.conftest import FAKE_LEAN, fake_lean_command
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


def test_doctor_checks_the_lean_command_that_is_configured(lean_project: Path, tmp_path: Path) -> None:
    """With `leanCommand` set (the fake Lean here), lake is not needed: its absence is no problem."""
    empty_path = tmp_path / "bin"
    empty_path.mkdir()
    fake = [sys.executable, str(FAKE_LEAN)]
    result = run_cli(
        "doctor", str(lean_project / "Examples.lean"), "--model", "", "--lean-command", shlex.join(fake),
        env={"PATH": str(empty_path)},
    )  # fmt: skip
    assert "lake: not on PATH" not in result.stdout and f"[ok] {sys.executable}" in result.stdout
    assert result.returncode == 0, result.stdout


def test_every_option_of_every_command_says_what_it_does() -> None:
    import argparse

    from llmstep_lsp.cli.main import _parser

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


DEFAULT_MODEL = "wellecks/llmstep-mathlib4-pythia2.8b"


def unreachable_hub(tmp_path: Path) -> dict[str, str]:
    """The network as a user without it has: offline mode not set, the hub's address refusing
    connections (a port just closed), an empty Hugging Face cache."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    home = tmp_path / "hf-home"
    return {
        "HF_HUB_OFFLINE": "",
        "TRANSFORMERS_OFFLINE": "",
        "HF_ENDPOINT": f"http://127.0.0.1:{port}",
        "HF_HOME": str(home),
        "HF_HUB_CACHE": str(home / "hub"),
    }


def test_an_uncached_model_with_the_hub_unreachable_is_told_once_with_the_fix(
    lean_project: Path, fake_state: Path, tmp_path: Path
) -> None:
    """Was ~49 s of hub retries, ~50 warning lines ending in `Retrying in 8s`, and `"note": ""`."""
    env = unreachable_hub(tmp_path)
    fix = f"hf download {DEFAULT_MODEL}"
    doctor = run_cli("doctor", str(lean_project / "Examples.lean"), env=env)
    told = doctor.stdout + doctor.stderr
    assert "is not in the local Hugging Face cache" in doctor.stdout and "cannot be reached" in doctor.stdout
    assert told.count(fix) == 1, told
    assert "suggestions come from the model-free tactics alone" in doctor.stdout
    assert "Retrying" not in told and "Connection refused' thrown" not in told

    path = lean_project / "Examples.lean"
    line = line_of(path.read_text(), "theorem two_eq_two ") + 1
    lean = shlex.join(fake_lean_command(fake_state))
    suggest = run_cli("suggest", f"{path}:{line}:3", "--json", "--lean-command", lean, env=env)
    assert suggest.returncode == 0, suggest.stderr
    output = json.loads(suggest.stdout)
    assert "rfl" in [s["tactic"] for s in output["suggestions"]], "model-free suggestions at once"
    assert fix in output["note"] and "only the model-free tactics" in output["note"]
    assert suggest.stderr.count(fix) == 1, suggest.stderr
    assert "Retrying" not in suggest.stderr


def test_a_cached_model_loads_from_the_cache_while_the_hub_is_unreachable(
    lean_project: Path, tiny_model: Path, tmp_path: Path
) -> None:
    """transformers would ask the hub for newer files first (2.5 min of retries here)."""
    env = unreachable_hub(tmp_path)
    revision = "0" * 40
    repo = Path(env["HF_HUB_CACHE"]) / "models--llmstep-test--tiny"
    shutil.copytree(tiny_model, repo / "snapshots" / revision)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(revision)
    result = run_cli("doctor", str(lean_project / "Examples.lean"), "--model", "llmstep-test/tiny", env=env)
    assert "model: llmstep-test/tiny loads" in result.stdout, result.stdout + result.stderr
    assert "Retrying" not in result.stderr


def test_a_missing_lake_is_told_once_by_every_command(lean_project: Path, tmp_path: Path) -> None:
    """Was four times (two restart-gate warnings, the notice's log line, the notice) plus the answer."""
    empty_path = tmp_path / "bin"
    empty_path.mkdir()
    env = {"PATH": str(empty_path)}
    path = lean_project / "Examples.lean"
    line = line_of(path.read_text(), "theorem two_eq_two ") + 1
    statements = tmp_path / "statements.jsonl"
    statements.write_text(json.dumps({"name": "two", "statement": "theorem two : 2 = 2"}) + "\n")
    results = tmp_path / "results.jsonl"
    evaluate = ["eval", "prove", str(statements), "--project", str(lean_project), "--results", str(results)]
    runs = {
        "suggest": run_cli("suggest", f"{path}:{line}:3", "--model", "", env=env),
        "prove": run_cli("prove", f"{path}:{line}:3", "--model", "", env=env),
        "eval prove": run_cli(*evaluate, "--model", "", env=env),
    }
    for command, result in runs.items():
        told = result.stdout + result.stderr
        assert told.count("'lake' was not found on PATH") == 1, f"{command}:\n{told}"
        assert "llmstep: " not in told, f"{command}: the editor's tag doubles the CLI's prefix"
    assert runs["suggest"].stdout.startswith("no suggestions: cannot start the Lean server")
    assert runs["prove"].stdout.startswith("no proof: cannot start the Lean server")
    assert "no proof: no proof" not in runs["prove"].stdout
    assert "Lean could not run" in runs["eval prove"].stderr and ".;" not in runs["eval prove"].stderr


def test_a_note_says_that_nothing_was_generated_and_why(lean_project: Path, fake_state: Path) -> None:
    """Was "no candidate passed Lean's check" when there was no candidate to check."""
    path = lean_project / "Examples.lean"
    line = line_of(path.read_text(), "theorem monotone_step ") + 2  # `  exact`
    lean = shlex.join(fake_lean_command(fake_state))
    result = run_cli("suggest", f"{path}:{line}:8", "--model", "", "--lean-command", lean)
    assert result.returncode == 1
    assert result.stdout.strip() == (
        "no suggestions: nothing was generated: no model-free tactic starts with 'exact', "
        "and no model is configured"
    )


def test_flags_apply_on_top_of_settings_nested_as_editors_nest_them(
    lean_project: Path, fake_state: Path
) -> None:
    """`--settings '{"llmstep": {…}}'` dropped every flag (--lean-command, --model) before."""
    path = lean_project / "Examples.lean"
    line = line_of(path.read_text(), "theorem two_eq_two ") + 1
    lean = shlex.join(fake_lean_command(fake_state))
    nested = json.dumps({"llmstep": {"maxSuggestions": 2}})
    flags = ["--model", "", "--lean-command", lean]
    result = run_cli("suggest", f"{path}:{line}:3", "--settings", nested, *flags)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == ["Try this: rfl (closes goal)", "Try this: simp (closes goal)"]
    not_an_object = run_cli("suggest", f"{path}:{line}:3", "--settings", "[]")
    assert not_an_object.returncode == 2 and "must be a JSON object" in not_an_object.stderr
