"""The one-shot commands that run the pipeline from a shell: `suggest`, `prove` and `eval prove`.

Each starts what it needs (Lean sessions, a managed model server), prints its answer on stdout and
its problems once on stderr (`console.py`), stops what it started, and returns the exit code: 0 with
an answer, 1 without one, 2 for bad input or a Lean that cannot run.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from llmstep_lsp.cli.console import ConsoleChannel
from llmstep_lsp.config.settings import Settings

if TYPE_CHECKING:
    from llmstep_lsp.pipeline.engine import SuggestionEngine


def run_suggest(args: argparse.Namespace, settings: Settings) -> int:
    """`llmstep-lsp suggest FILE:LINE[:COL]`: the verified suggestions at that line, printed as titles
    or `--json` (the `$/llmstep/suggest` report); `--prefix` replaces the line with a typed prefix."""
    from llmstep_lsp.text.lines import split_lines

    located = _read_location(args.location)
    if located is None:
        return 2
    path, text, line = located
    if args.prefix is not None:
        lines = split_lines(text)
        current = lines[line]
        indent = current[: len(current) - len(current.lstrip())]
        lines[line] = (indent or "  ") + args.prefix
        text = "\n".join(lines)
    return asyncio.run(_suggest_once(settings, path.as_uri(), text, line, args.json))


def _read_location(location: str) -> tuple[Path, str, int] | None:
    """FILE:LINE:COL (1-based, as editors show) → the file, its text and the 0-based line; None
    after saying what is wrong."""
    from llmstep_lsp.text.lines import split_lines

    try:
        path_text, line_text, column_text = location.rsplit(":", 2)
        line = int(line_text) - 1
        int(column_text)
    except ValueError:
        print(f"llmstep-lsp: expected FILE:LINE:COL, got {location!r}", file=sys.stderr)
        return None
    path = Path(path_text).resolve()
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as err:
        print(f"llmstep-lsp: cannot read {path}: {err.strerror}", file=sys.stderr)
        return None
    count = len(split_lines(text))
    if not 0 <= line < count:
        print(f"llmstep-lsp: {path} has {count} lines; line {line + 1} is out of range", file=sys.stderr)
        return None
    return path, text, line


async def _suggest_once(settings: Settings, uri: str, text: str, line: int, as_json: bool) -> int:
    from llmstep_lsp.lsp.publish import suggestion_report, suggestion_title

    channel = ConsoleChannel(hold=True)
    engine = _engine(settings, channel)
    try:
        engine.documents.open(uri, 1, text)
        await engine.document_opened(uri)
        result = await engine.suggest(uri, 1, text, line)
    finally:
        await _end(engine)
    if as_json:
        answer = json.dumps(suggestion_report(result), ensure_ascii=False, indent=2)
    elif not result.suggestions:
        answer = f"no suggestions: {result.note}"
    else:
        answer = "\n".join(suggestion_title(suggestion) for suggestion in result.suggestions)
    channel.release(answer if not as_json else "")
    print(answer)
    return 0 if result.suggestions else 1


def run_prove(args: argparse.Namespace, settings: Settings) -> int:
    """`llmstep-lsp prove FILE:LINE`: best-first proof search (or `--whole` proofs) from that line;
    prints the proof Lean accepted, or `no proof: <why>`."""
    located = _read_location(args.location)
    if located is None:
        return 2
    path, text, line = located
    return asyncio.run(_prove_once(settings, path.as_uri(), text, line, args.whole, args.json))


async def _prove_once(settings: Settings, uri: str, text: str, line: int, whole: bool, as_json: bool) -> int:
    from llmstep_lsp.search.proof import render_proof

    channel = ConsoleChannel(hold=True)
    engine = _engine(settings, channel)
    try:
        engine.documents.open(uri, 1, text)
        await engine.document_opened(uri)
        if whole:
            report = await engine.complete_proof(uri, 1, text, line)
        else:
            report = await engine.search_proof(uri, 1, text, line)
    finally:
        await _end(engine)
    proofs = [render_proof(report.point, p) for p in report.proofs] if report.point else []
    channel.release("" if as_json or proofs else f"no proof: {report.note}")
    if as_json:
        search = report.search
        print(
            json.dumps(
                {
                    "proofs": ["\n".join(p) for p in proofs],
                    "note": report.note,
                    "outcome": search.outcome if search else None,
                    "expanded": search.expanded if search else None,
                    "max_depth": search.max_depth if search else None,
                    "elapsed_s": round(search.elapsed_s, 3) if search else None,
                },
                ensure_ascii=False,
                indent=2,
            )
        )
    elif not proofs:
        print(f"no proof: {report.note}")
    else:
        print("\n\n".join("\n".join(p) for p in proofs))
    return 0 if proofs else 1


def run_eval_prove(args: argparse.Namespace, settings: Settings) -> int:
    """`llmstep-lsp eval prove STATEMENTS --project P`: proof search on each statement, appended to a
    results file that a rerun resumes; prints the proving-rate table."""
    from llmstep_lsp.evaluation.prove import (
        LeanDidNotRun,
        StatementError,
        prove_all,
        read_statements,
        summary_table,
    )
    from llmstep_lsp.pipeline.results import ProofMode

    statements_path = Path(args.statements)
    try:
        statements = read_statements(statements_path)
    except (OSError, StatementError) as err:
        print(f"llmstep-lsp: {err}", file=sys.stderr)
        return 2
    if args.limit is not None:
        statements = statements[: args.limit]
    results = Path(args.results or statements_path.with_suffix(".prove-results.jsonl").name)
    project = Path(args.project).resolve()
    if not project.is_dir():
        print(f"llmstep-lsp: --project {args.project}: no such directory (the Lean project)", file=sys.stderr)
        return 2

    channel = ConsoleChannel(hold=False)

    async def run() -> None:
        engine = _engine(settings, channel)
        try:
            mode: ProofMode = "whole" if args.whole else "search"
            await prove_all(statements, project, results, engine, mode, sys.stderr)
        finally:
            await _end(engine)

    try:
        asyncio.run(run())
    except LeanDidNotRun as err:
        reason = " (said above)" if channel.told(err.reason) else f": {err.reason.rstrip('.')}"
        print(f"llmstep-lsp: Lean could not run{reason}; nothing recorded for {err.name}", file=sys.stderr)
        return 2
    print(summary_table(results))
    print(f"results: {results}")
    return 0


def _engine(settings: Settings, channel: ConsoleChannel) -> SuggestionEngine:
    """An engine with its own document store: the command opens its one file there."""
    from llmstep_lsp.pipeline.engine import SuggestionEngine
    from llmstep_lsp.text.documents import DocumentStore

    return SuggestionEngine(settings, channel, DocumentStore())


async def _end(engine: SuggestionEngine) -> None:
    """Stop what the command started: Lean sessions, and a llama.cpp server the model backend runs."""
    await engine.shutdown()
    if engine.model is not None:
        await engine.model.close()
