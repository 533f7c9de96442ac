"""`prove` and `eval prove` from the shell: the product path (engine, fake Lean over stdio, an
OpenAI-compatible endpoint that proposes scripted tactics) end to end."""

from __future__ import annotations

import json
import shlex
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import REPO, fake_lean_command, project_files
from tests.support.cli import run_cli
from tests.support.fake_openai import FakeOpenAI, Script

SEARCH_SCRIPT = REPO / "tests" / "fixtures" / "search_script.json"
STATEMENTS = REPO / "tests" / "fixtures" / "prove_statements.jsonl"
CHAIN = "theorem chain (p q r : Prop) (hp : p) (hpq : p → q) (hqr : q → r) : r := by\n  sorry\n"
# The model's favourite first step is Lean-valid but leads nowhere; only one path proves `chain`.
TACTICS = Script(
    texts=["have hp' : p := hp", "apply hqr", "apply hpq", "exact hp", "ring", "rw [h₀, h₁]"],
    logprobs=[[-0.1], [-0.5], [-0.6], [-0.7], [-0.8], [-0.9]],
)


@pytest.fixture
def endpoint() -> Iterator[FakeOpenAI]:
    with FakeOpenAI() as fake:
        fake.script = TACTICS
        yield fake


def settings(fake: FakeOpenAI, **extra: object) -> str:
    return json.dumps(
        {
            "model": "scripted",
            "backend": "openai",
            "promptFormat": "proofstep",
            "endpoint": fake.endpoint,
            "searchSamples": 6,
            "automationTactics": [],
            **extra,
        }
    )


def lean(state: Path) -> str:
    return shlex.join(fake_lean_command(state, script=SEARCH_SCRIPT))


def test_prove_finds_the_multi_step_proof_and_leaves_the_file_alone(
    lean_project: Path, fake_state: Path, endpoint: FakeOpenAI
) -> None:
    path = lean_project / "Chain.lean"
    path.write_text(CHAIN)
    before = project_files(lean_project)
    result = run_cli(
        "prove", f"{path}:2:3", "--json", "--settings", settings(endpoint), "--lean-command", lean(fake_state)
    )
    assert result.returncode == 0, result.stderr
    output = json.loads(result.stdout)
    assert output["proofs"] == ["  apply hqr\n  apply hpq\n  exact hp"]
    assert output["outcome"] == "proved"
    assert output["max_depth"] == 3
    assert output["expanded"] >= 4  # the root, the dead end, then two steps down the right path
    # Every generation request asked for searchSamples samples.
    assert {r["body"]["n"] for r in endpoint.requests} == {6}
    assert project_files(lean_project) == before


def test_prove_stops_at_the_iteration_budget(
    lean_project: Path, fake_state: Path, endpoint: FakeOpenAI
) -> None:
    path = lean_project / "Chain.lean"
    path.write_text(CHAIN)
    result = run_cli(
        "prove",
        f"{path}:2:3",
        "--iterations",
        "2",
        "--settings",
        settings(endpoint),
        "--lean-command",
        lean(fake_state),
    )
    assert result.returncode == 1
    assert result.stdout.count("no proof") == 1 and "searchIterations" in result.stdout
    assert len(endpoint.requests) == 2  # one generation per expanded node, no more


def test_whole_proof_mode_offers_only_the_proofs_lean_accepts(
    lean_project: Path, fake_state: Path, endpoint: FakeOpenAI
) -> None:
    path = lean_project / "Chain.lean"
    path.write_text(CHAIN)
    declaration = "theorem chain (p q r : Prop) (hp : p) (hpq : p → q) (hqr : q → r) : r := by\n"
    endpoint.script = Script(
        texts=[
            f"```lean4\n{declaration}  exact hp\n```",  # Lean rejects it
            f"```lean4\n{declaration}  apply hqr\n```",  # leaves a goal
            f"Proof:\n```lean4\n{declaration}  apply hqr\n  apply hpq\n  exact hp\n```",
            f"```lean4\n{declaration}  apply hqr\n  sorry\n```",  # never offered: sorry
        ],
        logprobs=[[-0.1], [-0.2], [-0.3], [-0.05]],
    )
    result = run_cli(
        "prove",
        f"{path}:2:3",
        "--whole",
        "--json",
        "--settings",
        settings(
            endpoint,
            backend="openai-chat",
            promptFormat="chat-proof",
            wholeProofSamples=4,
        ),
        "--lean-command",
        lean(fake_state),
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["proofs"] == ["  apply hqr\n  apply hpq\n  exact hp"]
    (request,) = endpoint.requests
    assert request["path"] == "/v1/chat/completions" and request["body"]["n"] == 4


def test_eval_prove_reports_the_rate_and_resumes(
    lean_project: Path, fake_state: Path, endpoint: FakeOpenAI, tmp_path: Path
) -> None:
    results = tmp_path / "results.jsonl"
    args = [
        "eval",
        "prove",
        str(STATEMENTS),
        "--project",
        str(lean_project),
        "--results",
        str(results),
        "--iterations",
        "3",
        "--settings",
        settings(endpoint),
        "--lean-command",
        lean(fake_state),
    ]
    before = project_files(lean_project)
    first = run_cli(*args, "--limit", "2")
    assert first.returncode == 0, first.stderr
    records = [json.loads(line) for line in results.read_text().splitlines()]
    assert [(r["name"], r["proved"]) for r in records] == [
        ("mathd_algebra_182", True),
        ("mathd_algebra_48", True),
    ]
    assert records[1]["proof"] == ["rw [h₀, h₁]", "ring"]
    assert "proved" in first.stdout and "2/2" in first.stdout

    second = run_cli(*args)
    assert second.returncode == 0, second.stderr
    records = [json.loads(line) for line in results.read_text().splitlines()]
    # The two done theorems were skipped, not proved again; the third one fails within its budget.
    assert [r["name"] for r in records] == ["mathd_algebra_182", "mathd_algebra_48", "mathd_algebra_15"]
    assert records[2]["proved"] is False and records[2]["outcome"] in ("exhausted", "iterations")
    assert "resuming: 2 of 3" in second.stderr
    assert "2/3" in second.stdout and "66.7 %" in second.stdout
    opened = [
        json.loads(line)["params"]["textDocument"]["uri"]
        for line in (fake_state / "received.jsonl").read_text().splitlines()
        if json.loads(line).get("method") == "textDocument/didOpen"
    ]
    assert sum("mathd_algebra_182" in uri for uri in opened) == 1
    assert all("/.llmstep/" in uri for uri in opened)
    assert project_files(lean_project) == before  # statements only ever live in Lean's memory


def test_prove_inside_a_focusing_dot_indents_the_proof_under_the_dot(
    lean_project: Path, fake_state: Path, endpoint: FakeOpenAI
) -> None:
    path = lean_project / "Split.lean"
    path.write_text(
        "theorem split_rp (p q r : Prop) (hp : p) (hpq : p → q) (hqr : q → r) : r ∧ p := by\n"
        "  constructor\n"
        "  · sorry\n"
        "  · exact hp\n"
    )
    result = run_cli(
        "prove", f"{path}:3:5", "--json", "--settings", settings(endpoint), "--lean-command", lean(fake_state)
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["proofs"] == ["  · apply hqr\n    apply hpq\n    exact hp"]


def test_eval_prove_in_whole_proof_mode(
    lean_project: Path, fake_state: Path, endpoint: FakeOpenAI, tmp_path: Path
) -> None:
    endpoint.script = Script(texts=["```lean4\ntheorem x : True := by\n  ring\n```"], logprobs=[[-0.1]])
    results = tmp_path / "whole.jsonl"
    result = run_cli(
        "eval",
        "prove",
        str(STATEMENTS),
        "--project",
        str(lean_project),
        "--results",
        str(results),
        "--whole",
        "--settings",
        settings(endpoint, backend="openai-chat", promptFormat="chat-proof", wholeProofSamples=1),
        "--lean-command",
        lean(fake_state),
    )
    assert result.returncode == 0, result.stderr
    records = [json.loads(line) for line in results.read_text().splitlines()]
    # `ring` alone proves only the first statement; the others are reported, not proved.
    assert [(r["name"], r["proved"], r["proof"]) for r in records] == [
        ("mathd_algebra_182", True, ["ring"]),
        ("mathd_algebra_48", False, None),
        ("mathd_algebra_15", False, None),
    ]
    assert "1/3" in result.stdout


def test_no_proof_search_where_the_line_goes_on_after_the_tactic(
    lean_project: Path, fake_state: Path
) -> None:
    """A found proof is whole lines; the `<;> simp` the edit keeps would land after its last line,
    where Lean never checked it."""
    path = lean_project / "Tail.lean"
    path.write_text("theorem t : True ∧ True := by\n  sorry <;> trivial\n")
    result = run_cli("prove", f"{path}:2:3", "--lean-command", lean(fake_state))
    assert result.returncode == 1
    assert "no proof: the line goes on after the tactic (<;> trivial)" in result.stdout


def test_eval_prove_records_nothing_when_lean_cannot_run(lean_project: Path, tmp_path: Path) -> None:
    """'Lean not found' is no outcome of a theorem: recorded as "unproved", a rerun after installing
    Lean skipped it for good."""
    results = tmp_path / "results.jsonl"
    args = ["eval", "prove", str(STATEMENTS), "--results", str(results), "--model", "", "--limit", "1"]
    missing = run_cli(*args, "--project", str(tmp_path / "nowhere"))
    assert missing.returncode == 2 and "no such directory" in missing.stderr
    no_lean = run_cli(*args, "--project", str(lean_project), "--lean-command", "no-such-lean-binary --server")
    assert no_lean.returncode == 2 and "Lean could not run" in no_lean.stderr, no_lean.stderr
    assert not results.exists() or results.read_text() == "", "nothing recorded: a rerun tries it again"
