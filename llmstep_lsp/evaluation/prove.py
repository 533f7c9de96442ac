"""`llmstep-lsp eval prove`: end-to-end proving rate and time per theorem on miniF2F-style statements.

Each statement becomes `<header>\n<statement> := by\n  sorry` in an in-memory document under
`<project>/.llmstep/eval/` (never written to disk) and the proof search (or whole-proof mode) runs
from the `sorry`, exactly as the editor's "Search for a proof" does. One JSON line per theorem is
appended to the results file as soon as it is done, so an interrupted run resumes where it stopped:
theorems already in the file are skipped. The summary covers every theorem in the results file.

Input lines (JSONL) are either DeepSeek-Prover style (`name`, `formal_statement` ending in
`:= by`, `header`) or llmstep/LeanDojo style (`full_name`, `statement` without `:= by`).
"""

from __future__ import annotations

import json
import re
import statistics
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

from llmstep_lsp.pipeline.engine import SuggestionEngine
from llmstep_lsp.pipeline.results import ProofMode, ProofReport
from llmstep_lsp.verification.shadows import SHADOW_DIR

DEFAULT_HEADER = (
    "import Mathlib\nimport Aesop\n\nset_option maxHeartbeats 400000\n\n"
    "open BigOperators Real Nat Topology Rat\n"
)
"""The usual miniF2F preamble, for statement files that carry no header of their own."""
_SAFE_NAME = re.compile(r"[^A-Za-z0-9_]+")


@dataclass(frozen=True)
class Statement:
    """One theorem to prove: its name, the header to put above it, and the statement."""

    name: str
    header: str
    """Imports, options and `open`s (`DEFAULT_HEADER` when the file gives none)."""
    statement: str
    """The theorem up to and including `:= by`."""

    def document(self) -> tuple[str, int]:
        """The scratch document's text and the 0-based line of its `sorry`."""
        head = self.header if self.header.endswith("\n") else self.header + "\n"
        text = f"{head}\n{self.statement}\n  sorry\n"
        return text, text.count("\n") - 1


class StatementError(ValueError):
    """A line of the statements file that is not a statement; the message says which."""


def read_statements(path: Path, default_header: str = DEFAULT_HEADER) -> list[Statement]:
    """Every statement in a JSONL file (blank lines skipped), in order; a statement ending in `:=`
    or `:= by` is normalised to end in `:= by`. Raises `StatementError` naming the line at fault,
    OSError / UnicodeDecodeError when the file cannot be read."""
    statements = []
    for number, raw in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not raw.strip():
            continue
        try:
            item = json.loads(raw)
        except json.JSONDecodeError as err:
            raise StatementError(f"{path}:{number}: not JSON ({err})") from err
        statements.append(_statement(item, default_header, f"{path}:{number}"))
    return statements


def _statement(item: Any, default_header: str, where: str) -> Statement:
    if not isinstance(item, dict):
        raise StatementError(f"{where}: expected a JSON object")
    name = item.get("name") or item.get("full_name")
    text = item.get("formal_statement") or item.get("statement")
    if not isinstance(name, str) or not isinstance(text, str):
        raise StatementError(f"{where}: needs 'name'/'full_name' and 'formal_statement'/'statement'")
    body = text.rstrip()
    for ending in (":= by", ":="):  # proofnet's statements end in `:=`, miniF2F's in `:= by`
        if body.endswith(ending):
            body = body[: -len(ending)].rstrip()
            break
    header = item.get("header")
    return Statement(name, header if isinstance(header, str) else default_header, body + " := by")


def done_names(results: Path) -> set[str]:
    """Theorems already in the results file (a torn last line from an interrupted run is ignored)."""
    if not results.exists():
        return set()
    names = set()
    for raw in results.read_text(encoding="utf-8").splitlines():
        try:
            names.add(json.loads(raw)["name"])
        except (json.JSONDecodeError, KeyError, TypeError):
            continue
    return names


async def prove_all(
    statements: list[Statement],
    project: Path,
    results: Path,
    engine: SuggestionEngine,
    mode: ProofMode,
    log: TextIO,
) -> None:
    """Prove every statement not yet in `results`, appending one line per theorem. Raises
    `LeanDidNotRun` (nothing recorded for that theorem, so a rerun tries it again) when Lean could
    not run at all: that is no outcome of the theorem's."""
    done = done_names(results)
    todo = [s for s in statements if s.name not in done]
    if done:
        print(f"resuming: {len(statements) - len(todo)} of {len(statements)} already in {results}", file=log)
    results.parent.mkdir(parents=True, exist_ok=True)
    for index, statement in enumerate(todo, 1):
        uri = (project / SHADOW_DIR / "eval" / f"{_SAFE_NAME.sub('_', statement.name)}.lean").as_uri()
        text, line = statement.document()
        started = time.monotonic()
        engine.documents.open(uri, 1, text)
        await engine.document_opened(uri)
        try:
            if mode == "search":
                report = await engine.search_proof(uri, 1, text, line)
            else:
                report = await engine.complete_proof(uri, 1, text, line)
        finally:
            engine.documents.close(uri)
            await engine.document_closed(uri)
        if report.failed:
            raise LeanDidNotRun(statement.name, report.note)
        record = _record(statement, report, time.monotonic() - started)
        with results.open("a", encoding="utf-8") as out:
            out.write(json.dumps(record, ensure_ascii=False) + "\n")
        status = "proved" if record["proved"] else record["outcome"]
        print(f"[{index}/{len(todo)}] {statement.name}: {status} ({record['time_s']:.1f} s)", file=log)


class LeanDidNotRun(Exception):
    """Lean could not run for the theorem `name` (`reason` says why); the run stops there and
    nothing is recorded for it."""

    def __init__(self, name: str, reason: str) -> None:
        super().__init__(f"{name}: {reason}")
        self.name = name
        self.reason = reason


def _record(statement: Statement, report: ProofReport, seconds: float) -> dict[str, Any]:
    search = report.search
    proof = list(report.proofs[0]) if report.proofs else None
    return {
        "name": statement.name,
        "proved": proof is not None,
        "proof": proof,
        "outcome": "proved" if proof else (search.outcome if search else "unproved"),
        "expanded": search.expanded if search else None,
        "time_s": round(seconds, 3),
        "note": report.note,
    }


def summary_table(results: Path) -> str:
    """Proved / total, rate, and mean / median time per theorem, over the whole results file."""
    records = []
    for raw in results.read_text(encoding="utf-8").splitlines() if results.exists() else []:
        try:
            records.append(json.loads(raw))
        except json.JSONDecodeError:
            continue
    total = len(records)
    proved = sum(1 for r in records if r.get("proved"))
    times = [float(r["time_s"]) for r in records if isinstance(r.get("time_s"), int | float)]
    proved_times = [float(r["time_s"]) for r in records if r.get("proved")]
    rows = [
        ("theorems", str(total)),
        ("proved", f"{proved}/{total}"),
        ("rate", f"{100 * proved / total:.1f} %" if total else "-"),
        ("mean time (s)", f"{statistics.fmean(times):.2f}" if times else "-"),
        ("median time (s)", f"{statistics.median(times):.2f}" if times else "-"),
        ("median time, proved (s)", f"{statistics.median(proved_times):.2f}" if proved_times else "-"),
    ]
    width = max(len(k) for k, _ in rows)
    return "\n".join(f"{key:<{width}}  {value}" for key, value in rows)
