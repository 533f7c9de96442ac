"""Suggestions → LSP: quick-fix code actions and inline completions (ghost text).

Edits replace only the point's span (the typed tactic, a `sorry`, or an empty line's whitespace):
a trailing comment or `<;> …` tail stays. They carry the document version they were computed for
where the client takes versioned edits, so an editor refuses to apply one to text that has moved.
Columns are converted to the editor's negotiated position encoding here, at the boundary, and
every shape is one the client declared (`ClientShapes`).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, TypeVar

from lsprotocol import converters, types

from llmstep_lsp.lsp.client_shapes import VSCODE_SHAPES, ClientShapes
from llmstep_lsp.lsp.methods import APPLY_EDIT_COMMAND, COMPLETE_PROOF_COMMAND, SEARCH_PROOF_COMMAND
from llmstep_lsp.pipeline.results import ProofReport, Suggestion, SuggestionSet
from llmstep_lsp.search.proof import render_proof
from llmstep_lsp.text.suggestion_point import SuggestionPoint

_CONVERTER = converters.get_converter()
ColumnEncoder = Callable[[str, int], int]
"""(line text, code-point index) → column in the editor's position encoding."""
Items = TypeVar("Items")


def timed_publication(build: Callable[[], Items]) -> tuple[Items, float]:
    """`build()` and how long it took in milliseconds: the `publish` stage.

    The other stages are timed by the engine; this one happens per request, in the handler, so the
    server keeps the latest request's figure and `$/llmstep/suggest` reports it (the benchmark reads
    it there). The result itself is never changed: it may be cached and shared.
    """
    started = time.perf_counter()
    items = build()
    return items, (time.perf_counter() - started) * 1000


def suggestion_title(suggestion: Suggestion) -> str:
    """The quick fix's title: `Try this: <tactic> (closes goal)` or `(<n> goals left)`, as llmstep says it."""
    if suggestion.closes:
        status = "closes goal"
    else:
        left = len(suggestion.goals_after)
        status = f"{left} goal{'s' if left != 1 else ''} left"
    return f"Try this: {suggestion.tactic} ({status})"


def suggestion_report(result: SuggestionSet, publish_ms: float | None = None) -> dict[str, Any]:
    """The ranked list as plain JSON: for `suggest --json`, `llmstep.suggest` and `$/llmstep/suggest`.

    `final` is false for a snapshot of a computation still growing; `pending` then names the sources
    ("model", "automation") not done yet. `publish_ms` (the latest publication's time) joins the
    timings as `publish`.

    `candidates` says for every candidate, offered or not, whether it was kept (verified) and why:
    `reason` "closes goal" / "goals left" (kept), "filter", "lean error", "uses sorry", "timeout",
    "no verdict", "search tactic" (its proposals follow it); `detail` the rule or Lean's message.
    """
    timings = {**result.timings_ms, **({} if publish_ms is None else {"publish": publish_ms})}
    return {
        "uri": result.uri,
        "version": result.version,
        "line": result.point.line if result.point else None,
        "goals": list(result.goals),
        "note": result.note,
        "final": result.final,
        "pending": list(result.pending),
        "timings_ms": {k: round(v, 2) for k, v in timings.items()},
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
        range=_span_range(result.point, encode),
        message=f"llmstep: {count} verified suggestion{'s' if count != 1 else ''}; "
        f"best: {suggestion_title(result.suggestions[0])}",
        severity=types.DiagnosticSeverity.Hint,
        source="llmstep",
        code=HINT_CODE,
    )


def code_actions(
    result: SuggestionSet,
    encode: ColumnEncoder,
    hint: types.Diagnostic | None = None,
    shapes: ClientShapes = VSCODE_SHAPES,
) -> list[types.CodeAction | types.Command]:
    """One quick fix per verified suggestion, best first, each replacing the point's span; as
    `Command`s (applied through `workspace/applyEdit`) for a client without code-action literals,
    nothing for one that takes neither."""
    if result.point is None:
        return []
    point = result.point
    if hint is not None and hint.range.start.line != point.line:
        hint = None  # the published hint belongs to another line
    actions: list[types.CodeAction | types.Command] = []
    for rank, suggestion in enumerate(result.suggestions):
        edit = _span_edit(
            result.uri, result.version, point, point.replacement(suggestion.tactic), encode, shapes
        )
        title = suggestion_title(suggestion)
        if shapes.code_action_literals:
            actions.append(
                types.CodeAction(
                    title=title,
                    kind=types.CodeActionKind.QuickFix,
                    is_preferred=(rank == 0) if shapes.is_preferred else None,
                    edit=edit,
                    diagnostics=[hint] if hint else None,
                )
            )
        elif shapes.apply_edit:
            arguments = [_CONVERTER.unstructure(edit)]
            actions.append(types.Command(title, APPLY_EDIT_COMMAND, arguments=arguments))
    return actions


def proof_actions(
    result: SuggestionSet, whole_proofs: bool, shapes: ClientShapes = VSCODE_SHAPES
) -> list[types.CodeAction | types.Command]:
    """The proof commands ("Search for a proof"; "Complete the proof" with a whole-proof model) where
    a goal is open and no verified suggestion closes it already (that suggestion *is* the proof).

    They run as commands, in the background: a search takes minutes, a code action must not. A
    proof found arrives as `workspace/applyEdit`: a client that cannot take one is offered none.
    """
    if result.point is None or not result.goals or any(s.closes for s in result.suggestions):
        return []
    if not shapes.apply_edit:
        return []
    arguments = [result.uri, result.point.line]
    commands = [("Search for a proof (llmstep)", "Search for a proof", SEARCH_PROOF_COMMAND)]
    if whole_proofs:
        commands.append(
            ("Complete the proof (llmstep, whole-proof model)", "Complete the proof", COMPLETE_PROOF_COMMAND)
        )
    actions: list[types.CodeAction | types.Command] = []
    for title, short, name in commands:
        command = types.Command(short, name, arguments=arguments)
        if shapes.code_action_literals:
            actions.append(types.CodeAction(title=title, kind=types.CodeActionKind.QuickFix, command=command))
        else:
            actions.append(types.Command(title, name, arguments=arguments))
    return actions


def proof_edit(
    report: ProofReport, encode: ColumnEncoder, shapes: ClientShapes = VSCODE_SHAPES, newline: str = "\n"
) -> types.WorkspaceEdit | None:
    """The best proof in place of the point's span, for the document version it was found in, its
    lines joined with the document's own line break `newline`."""
    if report.point is None or not report.proofs:
        return None
    point, proof = report.point, report.proofs[0]
    later = render_proof(point, proof)[1:]
    new_text = point.replacement(proof[0]) + "".join(newline + line for line in later)
    return _span_edit(report.uri, report.version, point, new_text, encode, shapes)


def inline_completions(
    result: SuggestionSet, encode: ColumnEncoder, cursor: int | None = None
) -> types.InlineCompletionList:
    """Best suggestion first, as ghost text at code-point column `cursor` of the point's line.

    VS Code shows an item only if its range is on the cursor's line, contains the cursor, and the
    text from the range's start to the cursor is a prefix of `insertText`
    (`microsoft/vscode src/vs/editor/contrib/inlineCompletions`, `InlineCompletionItem.range`). The
    range is the point's span widened to the cursor; an item the client could not show correctly
    (the cursor after typed text that the tactic does not continue) is left out.
    """
    if result.point is None:
        return types.InlineCompletionList(items=[])
    point = result.point
    text = point.line_text
    start, end = point.span
    at = start if cursor is None else max(0, min(cursor, len(text)))
    first, last = min(at, start), max(at, end)
    # Text between the span and the cursor stays, except spaces the user typed at the end of the
    # line after the tactic (`exact |`): the tactic takes their place instead of ending in them.
    between = text[end:last] if text[end:last].strip() or text[last:].strip() else ""
    items = []
    for suggestion in result.suggestions:
        insert = text[first:start] + point.replacement(suggestion.tactic) + between
        if insert.startswith(text[first:at]):
            items.append(
                types.InlineCompletionItem(insert_text=insert, range=_range(point, first, last, encode))
            )
    return types.InlineCompletionList(items=items)


def _span_edit(
    uri: str, version: int, point: SuggestionPoint, new_text: str, encode: ColumnEncoder, shapes: ClientShapes
) -> types.WorkspaceEdit:
    """`new_text` in place of the point's span: for that document version only where the client takes
    versioned `documentChanges` (the editor refuses it if the text moved), else as plain `changes`."""
    edit = types.TextEdit(range=_span_range(point, encode), new_text=new_text)
    if not shapes.document_changes:
        return types.WorkspaceEdit(changes={uri: [edit]})
    change = types.TextDocumentEdit(
        text_document=types.OptionalVersionedTextDocumentIdentifier(uri=uri, version=version), edits=[edit]
    )
    return types.WorkspaceEdit(document_changes=[change])


def _span_range(point: SuggestionPoint, encode: ColumnEncoder) -> types.Range:
    return _range(point, *point.span, encode)


def _range(point: SuggestionPoint, start: int, end: int, encode: ColumnEncoder) -> types.Range:
    text, line = point.line_text, point.line
    return types.Range(
        start=types.Position(line=line, character=encode(text, start)),
        end=types.Position(line=line, character=encode(text, end)),
    )
