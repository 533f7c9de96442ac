"""The fake REPL answers like leanprover-community/repl (reference §10, transcripts §12.4)."""

from __future__ import annotations

import json
import os
import select
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

FAKE_REPL = Path(__file__).resolve().parent / "repl.py"
SCRIPT = {
    "declarations": {"f": ["x : Unit\n⊢ Nat"], "two": ["⊢ 2 = 2", "⊢ 3 = 3"]},
    "tactics": {
        "x : Unit\n⊢ Nat": {"apply Int.natAbs": ["x : Unit\n⊢ Int"]},
        "x : Unit\n⊢ Int": {"exact -37": []},
        "⊢ 2 = 2": {"rfl": [], "cases 1": ["case zero\n⊢ 0 = 0", "case succ\nn✝ : Nat\n⊢ n✝ + 1 = 0"]},
        "*": {
            "exact my_fake_premise": {"error": "Unknown identifier `my_fake_premise`"},
            "exact?": {"result": [], "info": "Try this:\n  [apply] exact Nat.one_pos"},
        },
    },
    "hang": ["aesop_hang"],
    "crash": ["crash_lean"],
}


class Repl:
    def __init__(self, tmp_path: Path, *knobs: str) -> None:
        script = tmp_path / "script.json"
        script.write_text(json.dumps(SCRIPT))
        self.state = tmp_path / "state"
        self.proc = subprocess.Popen(
            [sys.executable, str(FAKE_REPL), "--script", str(script), "--state-dir", str(self.state), *knobs],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            encoding="utf-8",
        )

    def send(self, request: dict[str, Any]) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(json.dumps(request) + "\n\n")
        self.proc.stdin.flush()

    def receive(self) -> dict[str, Any]:
        """One answer: pretty-printed JSON, read up to the blank line."""
        assert self.proc.stdout is not None
        lines = []
        while (line := self.proc.stdout.readline()) not in ("\n", ""):
            lines.append(line)
        assert len(lines) > 1, "answers are pretty-printed over several lines"
        return dict(json.loads("".join(lines)))

    def ask(self, request: dict[str, Any]) -> dict[str, Any]:
        self.send(request)
        return self.receive()


@pytest.fixture
def repl(tmp_path: Path) -> Iterator[Repl]:
    r = Repl(tmp_path)
    yield r
    r.proc.kill()
    r.proc.wait()


def test_readme_transcript(repl: Repl) -> None:
    first = repl.ask({"cmd": "theorem f (x : Unit) : Nat := by\n  sorry"})
    assert first == {
        "sorries": [
            {
                "proofState": 0,
                "pos": {"line": 2, "column": 2},
                "goal": "x : Unit\n⊢ Nat",
                "endPos": {"line": 2, "column": 7},
            }
        ],
        "messages": [
            {
                "severity": "warning",
                "pos": {"line": 1, "column": 8},
                "endPos": {"line": 1, "column": 9},
                "data": "declaration uses `sorry`",
            }
        ],
        "env": 0,
    }
    assert repl.ask({"tactic": "apply Int.natAbs", "proofState": 0}) == {
        "proofStatus": "Incomplete: open goals remain",
        "proofState": 1,
        "goals": ["x : Unit\n⊢ Int"],
    }
    assert repl.ask({"tactic": "exact -37", "proofState": 1}) == {
        "proofStatus": "Completed",
        "proofState": 2,
        "goals": [],
    }
    # Proof states are immutable: backtracking to 0 works and numbering goes on.
    assert repl.ask({"tactic": "apply Int.natAbs", "proofState": 0})["proofState"] == 3


def test_failing_tactic_is_messages_not_an_error_object(repl: Repl) -> None:
    repl.ask({"cmd": "theorem f (x : Unit) : Nat := by\n  sorry"})
    assert repl.ask({"tactic": "exact my_fake_premise", "proofState": 0}) == {
        "proofStatus": "Incomplete: contains sorry",
        "proofState": 1,
        "messages": [
            {
                "severity": "error",
                "pos": {"line": 0, "column": 0},
                "endPos": {"line": 0, "column": 0},
                "data": "Unknown identifier `my_fake_premise`",
            }
        ],
        "goals": [],
    }
    assert repl.ask({"tactic": "exat 42", "proofState": 0}) == {
        "message": "Lean error:\n<input>:1:1: unknown tactic"
    }
    assert repl.ask({"tactic": "rfl", "proofState": 99}) == {"message": "Unknown proof state."}
    assert repl.ask({"cmd": "theorem f (x : Unit) : Nat := by\n  sorry", "env": 7}) == {
        "message": "Unknown environment."
    }


def test_one_proof_state_per_sorry_holding_its_main_goal(repl: Repl) -> None:
    answer = repl.ask({"cmd": "theorem two : 2 = 2 ∧ 3 = 3 := by\n  sorry"})
    # `sorry` closes the main goal only: the other one is left unsolved, as in Lean.
    assert [s["goal"] for s in answer["sorries"]] == ["⊢ 2 = 2"]
    assert any(
        m["severity"] == "error" and m["data"].startswith("unsolved goals") for m in answer["messages"]
    )
    state = answer["sorries"][0]["proofState"]
    assert repl.ask({"tactic": "cases 1", "proofState": state}) == {
        "proofStatus": "Incomplete: open goals remain",
        "proofState": 1,
        "goals": ["case zero\n⊢ 0 = 0", "case succ\nn✝ : Nat\n⊢ n✝ + 1 = 0"],
    }
    info = repl.ask({"tactic": "exact?", "proofState": state})
    assert info["proofStatus"] == "Completed" and info["messages"][0]["severity"] == "info"


def test_header_env_is_reused_and_imports_need_a_fresh_env(repl: Repl) -> None:
    assert repl.ask({"cmd": "import Mathlib\nimport Aesop"}) == {"env": 0}
    body = repl.ask({"cmd": "theorem f (x : Unit) : Nat := by\n  sorry", "env": 0})
    assert body["env"] == 1 and body["sorries"][0]["proofState"] == 0
    late = repl.ask({"cmd": "import Mathlib", "env": 0})
    assert late["messages"][0]["severity"] == "error"
    assert repl.ask({"pickleTo": "x.olean", "env": 0})["message"].startswith(
        "Could not parse as a valid JSON"
    )


def test_latency_model_header_once_then_per_input(tmp_path: Path) -> None:
    r = Repl(tmp_path, "--latency-ms", "50", "--header-ms", "400", "--decl-ms", "100")
    try:

        def timed(request: dict[str, Any]) -> float:
            start = time.perf_counter()
            r.ask(request)
            return time.perf_counter() - start

        header = timed({"cmd": "import Mathlib"})
        body = timed(
            {"cmd": "theorem f (x : Unit) : Nat := by\n  sorry\ntheorem two : 2 = 2 := by\n  rfl", "env": 0}
        )
        tactic = timed({"tactic": "apply Int.natAbs", "proofState": 0})
        assert header >= 0.45 and body >= 0.25 and tactic >= 0.05
        assert tactic < header and tactic < body
    finally:
        r.proc.kill()
        r.proc.wait()


def test_announce_tells_each_input_before_answering_it(tmp_path: Path) -> None:
    fifo = tmp_path / "inputs.fifo"
    os.mkfifo(fifo)
    reader = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)
    writer = os.open(fifo, os.O_WRONLY)  # held: no end of file between the REPL's writes
    r = Repl(tmp_path, "--announce", str(fifo), "--header-ms", "60000")
    try:
        r.send({"cmd": "import Mathlib"})  # answered in a minute, announced at once
        ready, _, _ = select.select([reader], [], [], 30)
        assert ready, "no announcement"
        assert json.loads(os.read(reader, 4096)) == {"pid": r.proc.pid, "n": 1}
    finally:
        r.proc.kill()
        r.proc.wait()
        os.close(reader)
        os.close(writer)


def test_hang_blocks_the_process_and_crash_ends_it(repl: Repl) -> None:
    repl.ask({"cmd": "theorem f (x : Unit) : Nat := by\n  sorry"})
    repl.send({"tactic": "crash_lean", "proofState": 0})
    assert repl.proc.wait(timeout=30) == 1


def test_a_hanging_tactic_never_answers(tmp_path: Path) -> None:
    r = Repl(tmp_path)
    try:
        r.ask({"cmd": "theorem f (x : Unit) : Nat := by\n  sorry"})
        r.send({"tactic": "aesop_hang", "proofState": 0})
        r.send({"tactic": "apply Int.natAbs", "proofState": 0})
        time.sleep(1.0)
        assert r.proc.poll() is None
        assert r.proc.stdout is not None
        ready, _, _ = select.select([r.proc.stdout], [], [], 0.5)
        assert not ready, "a hung REPL answers nothing, not even later inputs"
    finally:
        r.proc.kill()
        r.proc.wait()
