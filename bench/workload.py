"""The benchmark's Lean workload: a project, one document and a fake-Lean script built from real goals.

Each of the 17 goal states (+ typed prefixes) of llmstep's runtime benchmark becomes a theorem
`bench_NN` whose proof is one line: `sorry`, or the prefix the user typed (`apply`, …). The fake
Lean script declares that theorem with the real goal, so the sidecar reads it through
`$/lean/plainGoal` exactly as from `lake serve`. A few model-free tactics are accepted for every
goal, so each request ends with verified suggestions to publish; everything else the model proposes
is rejected by the script ("no rule"), which costs an elaboration like a real rejection.
"""

from __future__ import annotations

import json
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path

from llmstep_lsp.config.settings import DEFAULT_AUTOMATION_TACTICS

REPO = Path(__file__).resolve().parents[1]
CASES = REPO.parent / "shared" / "data" / "proofsteps" / "llmstep_runtime_test_cases.jsonl"
FAKE_LEAN = REPO / "tests" / "fake_lean" / "server.py"

# Model-free candidates for the run: the defaults plus one per typed prefix of the cases (a
# candidate must start with what the user typed), so that every case has something to verify.
AUTOMATION = (
    *DEFAULT_AUTOMATION_TACTICS,
    "apply le_refl",
    "apply Continuous.add",
    "exact le_rfl",
    "have h := le_rfl",
)
# Accepted for every goal (the first ones close it), rejected with Lean's message otherwise.
ACCEPTED: dict[str, object] = {
    "simp": [],
    "norm_num": [],
    "apply le_refl": [],
    "apply Continuous.add": [],
    "exact le_rfl": [],
}
REJECTED = {
    "rfl": {"error": "The rfl tactic failed."},
    "omega": {"error": "omega could not prove the goal"},
    "decide": {"error": "failed to synthesize\n  Decidable"},
}


@dataclass(frozen=True)
class Case:
    goal: str
    prefix: str


@dataclass(frozen=True)
class Workload:
    project: Path
    document: Path
    script: Path
    cases: tuple[Case, ...]

    def text(self, round_: int) -> str:
        """The document at a round: the header comment changes, so nothing cached carries over
        (Lean's verdicts are cached per file-before-the-declaration)."""
        lines = [
            "-- llmstep-lsp benchmark: the goal states of llmstep's runtime benchmark",
            f"-- round {round_}",
            "",
        ]
        for index, case in enumerate(self.cases):
            lines += [f"theorem bench_{index:02d} : True := by", f"  {case.prefix or 'sorry'}", ""]
        return "\n".join(lines)

    def line_of(self, index: int) -> int:
        """0-based line of case `index`'s proof line (where the suggestion goes)."""
        return 3 + 3 * index + 1

    def line_text(self, index: int) -> str:
        return f"  {self.cases[index].prefix or 'sorry'}"

    def lean_command(self, latency_ms: int) -> list[str]:
        return [sys.executable, str(FAKE_LEAN), "--script", str(self.script), "--latency-ms", str(latency_ms)]


def load_cases(limit: int | None = None) -> tuple[Case, ...]:
    rows = [json.loads(line) for line in CASES.read_text(encoding="utf-8").splitlines() if line.strip()]
    cases = tuple(Case(row["tactic_state"], row["prefix"]) for row in rows)
    return cases[:limit] if limit else cases


def build_workload(root: Path, cases: tuple[Case, ...]) -> Workload:
    """A Lean project under `root` (the example project's toolchain files), its script and document."""
    project = root / "project"
    project.mkdir(parents=True)
    for name in ("lakefile.toml", "lean-toolchain"):
        shutil.copy(REPO / "lean" / name, project / name)
    tactics: dict[str, dict[str, object]] = {}
    for case in cases:
        # `have` leaves the goal as it was: a valid step that does not close it.
        tactics[case.goal] = {**ACCEPTED, "have h := le_rfl": [case.goal], **REJECTED}
    script = root / "bench_script.json"
    declarations = {f"bench_{i:02d}": [case.goal] for i, case in enumerate(cases)}
    script.write_text(json.dumps({"declarations": declarations, "tactics": tactics}, ensure_ascii=False))
    workload = Workload(project, project / "Bench.lean", script, cases)
    workload.document.write_text(workload.text(0), encoding="utf-8")
    return workload
