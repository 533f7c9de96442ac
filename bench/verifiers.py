"""Parallel verification, measured: shadow pool vs. one multi-copy shadow vs. the REPL verifier.

    python bench/verifiers.py [--candidates 8] [--rounds 3] [--latency-ms 50] [--decl-ms 200]
                              [--header-ms 2000] [--json results.json]

Same goals, same candidates, same fake latency model for every verifier (tests/fake_lean and
tests/fake_repl, the examples script + lean/Examples.lean, 5 suggestion points):
- every Lean request that elaborates pays `--latency-ms`; a document version pays `--decl-ms` for
  each declaration from the first changed line to the end of the file, one after another (a worker
  elaborates its file's commands in order; see tests/fake_lean/README.md); separate documents are
  separate workers and run concurrently. Loading imports pays `--header-ms` (warm-up, not timed);
- the REPL pays `--latency-ms` per input plus `--decl-ms` per declaration in a command.

Measured per suggestion (wall time to verdicts for all N candidates, goal read excluded, the same
for all), with an edit inside the proof before each suggestion so nothing is reused across them:
  (a) the product's shadow pool (`verifyConcurrency` 1, 2, 4): probes end with the declaration;
  (a') the same pool with the probe keeping the rest of the file (the product before this bench);
  (b) one shadow document holding N copies of the declaration, one candidate each (renamed copies),
      and (b+a) both: 2 or 4 such documents, the copies split between them;
  (c) the product's REPL verifier (`replPoolSize` 1, 2, 4).
Configurations alternate within each round, so machine noise hits all alike. Every configuration's
verdicts are compared with (a)'s: a disagreement is printed and fails the run.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import re
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from llmstep_lsp.lean.client import LeanClient  # noqa: E402
from llmstep_lsp.lean.project import find_project  # noqa: E402
from llmstep_lsp.text.encoding import utf16_len  # noqa: E402
from llmstep_lsp.text.suggestion_point import (  # noqa: E402
    SuggestionPoint,
    candidate_probe_text,
    find_suggestion_point,
)
from llmstep_lsp.verification.repl import ReplPool, ReplVerifier  # noqa: E402
from llmstep_lsp.verification.shadows import SHADOW_DIR, ShadowPool  # noqa: E402
from llmstep_lsp.verification.verifier import (  # noqa: E402
    CheckResult,
    Verdict,
    Verifier,
    _candidate_error,
    through_declaration,
)

SCRIPT = REPO / "tests" / "fixtures" / "examples_script.json"
FAKE_LEAN = REPO / "tests" / "fake_lean" / "server.py"
FAKE_REPL = REPO / "tests" / "fake_repl" / "repl.py"
POINTS = [
    ("two_eq_two", 1),
    ("add_zero_nat", 1),
    ("monotone_step'", 2),
    ("subset_chain", 3),
    ("exercise_1_18b", 2),
]
# Every step the examples script knows at these points, then failing and unparsable ones.
CANDIDATES = [
    "rfl",
    "exact h (Nat.le_succ _)",
    "apply h",
    "intro h n",
    "exact hrs hxr",
    "push_neg",
    "use 1",
    "simp",
    "omega",
    "exact h",
    "apply hrs",
    "decide",
    "exact h (Nat.le_succ",
    "frobnicate",
    "induction n",
    "norm_num",
]
TIMEOUT_S = 120.0


def copy_name(name: str, k: int) -> str:
    return f"{name}_llmstep{k}"


def multi_copy_script(directory: Path, copies: int) -> Path:
    """The examples script, plus each declaration under the copies' names."""
    script = json.loads(SCRIPT.read_text())
    for name, goals in list(script["declarations"].items()):
        for k in range(copies):
            script["declarations"][copy_name(name, k)] = goals
    path = directory / "script.json"
    path.write_text(json.dumps(script, ensure_ascii=False))
    return path


class MultiCopyVerifier:
    """(b): one shadow document with the declaration copied once per candidate."""

    def __init__(self, lean: LeanClient, root: Path, timeout_s: float, documents: int = 1) -> None:
        self.lean = lean
        self.uris = [(root / SHADOW_DIR / f"Multi{n}.lean").as_uri() for n in range(documents)]
        self.timeout_s = timeout_s

    async def check_all(
        self, lines: list[str], point: SuggestionPoint, tactics: list[str]
    ) -> list[CheckResult]:
        """With several documents ("both"): each one holds its share of the copies, concurrently."""
        shares = [tactics[n :: len(self.uris)] for n in range(len(self.uris))]
        done = await asyncio.gather(
            *(self._check_in(uri, lines, point, share) for uri, share in zip(self.uris, shares, strict=True))
        )
        by_tactic = {r.tactic: r for results in done for r in results}
        return [by_tactic[t] for t in tactics]

    async def _check_in(
        self, uri: str, lines: list[str], point: SuggestionPoint, tactics: list[str]
    ) -> list[CheckResult]:
        lines = through_declaration(lines, point)  # later declarations: see (a) vs (a')
        declaration = point.declaration
        assert declaration is not None and declaration.name is not None
        copies, points = [], []
        tail: list[str] = []
        for k, tactic in enumerate(tactics):
            probe = candidate_probe_text(lines, point, tactic).split("\n")
            copy = probe[declaration.start_line : point.line + 2]
            copy[0] = copy[0].replace(f" {declaration.name} ", f" {copy_name(declaration.name, k)} ", 1)
            start = declaration.start_line + sum(len(c) for c in copies)
            points.append(dataclasses.replace(point, line=start + point.line - declaration.start_line))
            copies.append(copy)
            tail = probe[point.line + 2 :]
        text = "\n".join([*lines[: declaration.start_line], *(line for c in copies for line in c), *tail])
        version = await self.lean.sync(uri, text)
        diagnostics = await self.lean.diagnostics(uri, version, self.timeout_s)
        results = []
        for tactic, at in zip(tactics, points, strict=True):
            error = _candidate_error(diagnostics, at)
            if error is not None:
                results.append(CheckResult(tactic, Verdict.INVALID, error=error.message))
                continue
            end = at.tactic_column_utf16 + utf16_len(tactic)
            state = await self.lean.plain_goal(uri, version, at.line, end, self.timeout_s)
            if state is None:
                results.append(CheckResult(tactic, Verdict.INVALID, error="no tactic state"))
            else:
                verdict = Verdict.CLOSES if state.closed else Verdict.VALID
                results.append(CheckResult(tactic, verdict, goals_after=state.goals))
        return results


class WholeFileShadowVerifier(Verifier):
    """(a'): the shadow pool as it was before the measurement: the probe kept the rest of the file."""

    def probe_text(self, lines: list[str], point: SuggestionPoint, tactic: str) -> str:
        return candidate_probe_text(lines, point, tactic)


def edited(text: str, name: str, offset: int, round_: int) -> tuple[list[str], SuggestionPoint]:
    """The file with a comment edit just above the point (so no state is reused across suggestions)."""
    lines = text.split("\n")
    start = next(i for i, line in enumerate(lines) if line.startswith(f"theorem {name} "))
    line = start + offset
    indent = re.match(r"\s*", lines[line - 1] if lines[line - 1].strip() else "  ")
    lines.insert(line, f"{indent[0] if indent and indent[0] else '  '}-- edit {round_}")
    point = find_suggestion_point(lines, line + 1)
    assert point is not None, (name, offset)
    return lines, point


async def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--candidates", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--latency-ms", type=int, default=50)
    parser.add_argument("--decl-ms", type=int, default=200)
    parser.add_argument("--header-ms", type=int, default=2000)
    parser.add_argument("--sizes", default="1,2,4")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    tactics = CANDIDATES[: args.candidates]
    sizes = [int(s) for s in args.sizes.split(",")]
    knobs = [
        "--latency-ms",
        str(args.latency_ms),
        "--decl-ms",
        str(args.decl_ms),
        "--header-ms",
        str(args.header_ms),
    ]

    work = Path(tempfile.mkdtemp(prefix="llmstep-bench-verifiers-"))
    project_dir = work / "project"
    shutil.copytree(REPO / "lean", project_dir, ignore=shutil.ignore_patterns(".lake"))
    script = multi_copy_script(work, len(tactics))
    project = find_project(project_dir / "Examples.lean")
    text = (project_dir / "Examples.lean").read_text()
    lean_command = [sys.executable, str(FAKE_LEAN), "--script", str(script), *knobs]
    repl_command = [sys.executable, str(FAKE_REPL), "--script", str(script), *knobs]

    clients: list[LeanClient] = []
    pools: list[ReplPool] = []

    def lean() -> LeanClient:
        client = LeanClient(project, lean_command, TIMEOUT_S)
        clients.append(client)
        return client

    checkers: dict[str, Any] = {}
    for size in sizes:
        checkers[f"(a) shadow pool, {size} document(s)"] = Verifier(
            lean(), ShadowPool(project.root, size), TIMEOUT_S, TIMEOUT_S
        )
    for size in sizes:
        checkers[f"(a') pool {size}, whole-file probe"] = WholeFileShadowVerifier(
            lean(), ShadowPool(project.root, size), TIMEOUT_S, TIMEOUT_S
        )
    checkers[f"(b) one shadow, {len(tactics)} copies"] = MultiCopyVerifier(lean(), project.root, TIMEOUT_S)
    for size in sizes[1:]:
        checkers[f"(b+a) {size} shadows, copies split"] = MultiCopyVerifier(
            lean(), project.root, TIMEOUT_S, size
        )
    for size in sizes:
        pool = ReplPool(repl_command, str(project.root), size, TIMEOUT_S)
        pools.append(pool)
        checkers[f"(c) REPL pool, {size} process(es)"] = ReplVerifier(
            Verifier(clients[0], ShadowPool(project.root, 1), TIMEOUT_S, TIMEOUT_S), pool, TIMEOUT_S
        )

    async def run(checker: Any, lines: list[str], point: SuggestionPoint) -> list[CheckResult]:
        if isinstance(checker, MultiCopyVerifier):
            return await checker.check_all(lines, point, tactics)
        # No goals passed: the REPL then counts only its main goal, as this bench always measured.
        return list(await asyncio.gather(*(checker.check(lines, point, (), t) for t in tactics)))

    times: dict[str, list[float]] = {name: [] for name in checkers}
    disagreements = 0
    try:
        # Warm-up (not timed): workers open the file / load the header, as a long-lived session's have.
        for checker in checkers.values():
            for name, offset in POINTS:
                lines, point = edited(text, name, offset, -1)
                await run(checker, lines, point)
        for round_ in range(args.rounds):
            for name, offset in POINTS:
                lines, point = edited(text, name, offset, round_)
                reference: list[tuple[str, Verdict, tuple[str, ...]]] | None = None
                for label, checker in checkers.items():
                    started = time.perf_counter()
                    results = await run(checker, lines, point)
                    times[label].append((time.perf_counter() - started) * 1000)
                    verdicts = [(r.tactic, r.verdict, r.goals_after) for r in results]
                    if reference is None:
                        reference = verdicts
                    elif verdicts != reference:
                        disagreements += 1
                        print(f"DISAGREEMENT at {name}+{offset} ({label}): {verdicts} vs {reference}")
    finally:
        for pool in pools:
            pool.close()
        await asyncio.gather(*(c.shutdown() for c in clients), return_exceptions=True)
        shutil.rmtree(work, ignore_errors=True)

    base_label = next(iter(checkers))
    base = statistics.median(times[base_label])
    print(
        f"\n{len(tactics)} candidates per suggestion, {len(POINTS)} points x {args.rounds} rounds; "
        f"fake latency model: {args.latency_ms} ms per request, {args.decl_ms} ms per declaration, "
        f"header {args.header_ms} ms"
    )
    print(f"{'verifier':<34} {'median ms':>10} {'mean ms':>9} {'vs ' + base_label[:3]:>10}")
    rows = []
    for label, samples in times.items():
        median = statistics.median(samples)
        rows.append({"verifier": label, "median_ms": median, "mean_ms": statistics.mean(samples)})
        print(f"{label:<34} {median:>10.0f} {statistics.mean(samples):>9.0f} {base / median:>9.2f}x")
    print(f"verdicts agree with {base_label}: {'yes' if not disagreements else f'NO ({disagreements})'}")
    if args.json:
        args.json.write_text(
            json.dumps({"args": vars(args) | {"json": str(args.json)}, "rows": rows}, indent=2)
        )
    if disagreements:
        sys.exit(1)


if __name__ == "__main__":
    asyncio.run(main())
