"""Suggestions → LSP: quick-fix code actions and inline completions (ghost text).

Edits replace the whole suggestion line (typed text, `sorry` or nothing) by the tactic at the
right indentation, and carry the document version they were computed for, so an editor refuses
to apply one to text that has moved. Columns are converted to the editor's negotiated position
encoding here, at the boundary.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, TypeVar

from lsprotocol import types

from llmstep_lsp.engine import ProofReport, Suggestion, SuggestionSet
from llmstep_lsp.proofpoint import SuggestionPoint
from llmstep_lsp.protocol import COMPLETE_PROOF_COMMAND, SEARCH_PROOF_COMMAND
from llmstep_lsp.search.proof import render_proof

ColumnEncoder = Callable[[str, int], int]
"""(line text, code-point index) → column in the editor's position encoding."""
Items = TypeVar("Items")


def timed_publication(result: SuggestionSet, build: Callable[[], Items]) -> Items:
    """`build()`, recording how long it took as the result's `publish` stage.

    The other stages are timed by the engine; this one happens per request, in the handler, so the
    latest request's figure is what `$/llmstep/suggest` reports (the benchmark reads it there).
    """
    started = time.perf_counter()
    items = build()
    result.timings_ms["publish"] = (time.perf_counter() - started) * 1000
    return items


def suggestion_title(suggestion: Suggestion) -> str:
    if suggestion.closes:
        status = "closes goal"
    else:
        left = len(suggestion.goals_after)
        status = f"{left} goal{'s' if left != 1 else ''} left"
    return f"Try this: {suggestion.tactic} ({status})"


def suggestion_report(result: SuggestionSet) -> dict[str, Any]:
    """The ranked list as plain JSON: for `suggest --json`, `llmstep.suggest` and `$/llmstep/suggest`.

    `candidates` says for every candidate, offered or not, whether it was kept (verified) and why:
    `reason` "closes goal" / "goals left" (kept), "filter", "lean error", "uses sorry", "timeout",
    "no verdict", "search tactic" (its proposals follow it); `detail` the rule or Lean's message.
    """
    return {
        "uri": result.uri,
        "version": result.version,
        "line": result.point.line if result.point else None,
        "goals": list(result.goals),
        "note": result.note,
        "timings_ms": {k: round(v, 2) for k, v in result.timings_ms.items()},
        "suggestions": [
            {
                "tactic": s.tactic,
                "status": s.verdict.value,
                "goals_after": list(s.goals_after),
                "score": s.score,
                "source": s.source,
                "title": suggestion_title(s),
            }
            for s in result.suggestions
        ],
        "candidates": [
            {
                "tactic": o.candidate.tactic,
                "source": o.candidate.source,
                "kept": o.kept,
                "reason": o.reason,
                "detail": o.detail,
            }
            for o in result.outcomes
        ],
    }


HINT_CODE = "llmstep.suggestions"


def hint_diagnostic(result: SuggestionSet, encode: ColumnEncoder) -> types.Diagnostic | None:
    """A hint on the suggestion line saying verified suggestions are ready (None if there are none)."""
    if result.point is None or not result.suggestions:
        return None
    count = len(result.suggestions)
    return types.Diagnostic(
        range=_line_range(result.point, encode),
        message=f"llmstep: {count} verified suggestion{'s' if count != 1 else ''}; "
        f"best: {suggestion_title(result.suggestions[0])}",
        severity=types.DiagnosticSeverity.Hint,
        source="llmstep",
        code=HINT_CODE,
    )


def code_actions(
    result: SuggestionSet, encode: ColumnEncoder, hint: types.Diagnostic | None = None
) -> list[types.CodeAction]:
    if result.point is None:
        return []
    point = result.point
    if hint is not None and hint.range.start.line != point.line:
        hint = None  # the published hint belongs to another line
    return [
        types.CodeAction(
            title=suggestion_title(suggestion),
            kind=types.CodeActionKind.QuickFix,
            is_preferred=rank == 0,
            edit=_line_edit(result.uri, result.version, point, point.line_with(suggestion.tactic), encode),
            diagnostics=[hint] if hint else None,
        )
        for rank, suggestion in enumerate(result.suggestions)
    ]


def proof_actions(result: SuggestionSet, whole_proofs: bool) -> list[types.CodeAction]:
    """The proof commands ("Search for a proof"; "Complete the proof" with a whole-proof model) where
    a goal is open and no verified suggestion closes it already (that suggestion *is* the proof).

    They run as commands, in the background: a search takes minutes, a code action must not.
    """
    if result.point is None or not result.goals or any(s.closes for s in result.suggestions):
        return []
    arguments = [result.uri, result.point.line]
    actions = [
        types.CodeAction(
            title="Search for a proof (llmstep)",
            kind=types.CodeActionKind.QuickFix,
            command=types.Command("Search for a proof", SEARCH_PROOF_COMMAND, arguments=arguments),
        )
    ]
    if whole_proofs:
        actions.append(
            types.CodeAction(
                title="Complete the proof (llmstep, whole-proof model)",
                kind=types.CodeActionKind.QuickFix,
                command=types.Command("Complete the proof", COMPLETE_PROOF_COMMAND, arguments=arguments),
            )
        )
    return actions


def proof_edit(report: ProofReport, encode: ColumnEncoder) -> types.WorkspaceEdit | None:
    """The best proof in place of the point's line, for the document version it was found in."""
    if report.point is None or not report.proofs:
        return None
    new_text = "\n".join(render_proof(report.point, report.proofs[0]))
    return _line_edit(report.uri, report.version, report.point, new_text, encode)


def inline_completions(result: SuggestionSet, encode: ColumnEncoder) -> types.InlineCompletionList:
    """Best suggestion first: the whole line as it would read, so it completes what is typed."""
    if result.point is None:
        return types.InlineCompletionList(items=[])
    line_range = _line_range(result.point, encode)
    return types.InlineCompletionList(
        items=[
            types.InlineCompletionItem(insert_text=result.point.line_with(s.tactic), range=line_range)
            for s in result.suggestions
        ]
    )


def _line_edit(
    uri: str, version: int, point: SuggestionPoint, new_text: str, encode: ColumnEncoder
) -> types.WorkspaceEdit:
    """`new_text` in place of the point's line, for that document version only (the editor refuses
    it if the text moved)."""
    edit = types.TextDocumentEdit(
        text_document=types.OptionalVersionedTextDocumentIdentifier(uri=uri, version=version),
        edits=[types.TextEdit(range=_line_range(point, encode), new_text=new_text)],
    )
    return types.WorkspaceEdit(document_changes=[edit])


def _line_range(point: SuggestionPoint, encode: ColumnEncoder) -> types.Range:
    text = point.line_text
    line = point.line
    return types.Range(
        start=types.Position(line=line, character=0),
        end=types.Position(line=line, character=encode(text, len(text))),
    )
