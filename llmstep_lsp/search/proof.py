"""Proof text at a suggestion point: where a path of tactics goes, and how a found proof reads.

Pure text work. A proof is a list of lines relative to the point: the first line is the tactic that
goes where the point is (after its indentation or focusing dot), later lines go in the block's
continuation column, keeping any extra indentation of their own (nested blocks of a whole proof).
"""

from __future__ import annotations

from llmstep_lsp.text.suggestion_point import SuggestionPoint, find_suggestion_point


def render_proof(point: SuggestionPoint, proof: tuple[str, ...]) -> list[str]:
    """The editor lines that replace the point's line."""
    if not proof:
        return []
    return [point.line_with(proof[0]), *(point.continuation + line for line in proof[1:])]


def after_path(
    lines: list[str], point: SuggestionPoint, path: tuple[str, ...]
) -> tuple[list[str], SuggestionPoint]:
    """The document with `path` written at the point and a `sorry` line after it, and the point of
    that line: where the next tactic of the search goes."""
    if not path:
        return lines, point
    written = render_proof(point, path)
    new_lines = [*lines[: point.line], *written, point.continuation + "sorry", *lines[point.line + 1 :]]
    next_point = find_suggestion_point(new_lines, point.line + len(written))
    assert next_point is not None, "a sorry line inside a tactic block is always a suggestion point"
    return new_lines, next_point
