"""Code actions and ghost text from a suggestion set: titles, versioned edits, columns per encoding."""

from __future__ import annotations

import pytest
from lsprotocol import types
from pygls.workspace.position_codec import PositionCodec

from llmstep_lsp.lsp.publish import (
    code_actions,
    inline_completions,
    suggestion_report,
    suggestion_title,
    timed_publication,
)
from llmstep_lsp.pipeline.results import Suggestion, SuggestionSet
from llmstep_lsp.text.suggestion_point import find_suggestion_point
from llmstep_lsp.verification.verifier import Verdict

LINES = [
    "theorem t (f : ℕ → ℕ) (x : ℝ) : Tendsto f (𝓝 x) (𝓝 x) := by",
    "  exact (h : ∀ n : ℕ, f n ∈ 𝓝 x ⊢",
]


def result() -> SuggestionSet:
    point = find_suggestion_point(LINES, 1)
    assert point is not None
    return SuggestionSet(
        uri="file:///p/A.lean",
        version=12,
        point=point,
        goals=("⊢ Tendsto f (𝓝 x) (𝓝 x)",),
        suggestions=(
            Suggestion("exact (h : ∀ n : ℕ, f n ∈ 𝓝 x ⊢ done)", Verdict.CLOSES, (), -0.2, "model"),
            Suggestion("exact (h : ∀ n : ℕ, f n ∈ 𝓝 x ⊢ 𝓝)", Verdict.VALID, ("a", "b"), -0.9, "model"),
        ),
    )


@pytest.mark.parametrize("encoding", ["utf-16", "utf-8", "utf-32"])
def test_edit_range_covers_the_typed_tactic_in_the_clients_units(encoding: str) -> None:
    codec = PositionCodec(encoding=types.PositionEncodingKind(encoding))

    def encode(text: str, index: int) -> int:
        return int(codec.client_num_units(text[:index]))

    line = LINES[1]
    expected_end = {
        "utf-16": len(line.encode("utf-16-le")) // 2,
        "utf-8": len(line.encode()),
        "utf-32": len(line),
    }
    actions = code_actions(result(), encode)
    assert [a.title for a in actions] == [
        "Try this: exact (h : ∀ n : ℕ, f n ∈ 𝓝 x ⊢ done) (closes goal)",
        "Try this: exact (h : ∀ n : ℕ, f n ∈ 𝓝 x ⊢ 𝓝) (2 goals left)",
    ]
    change = actions[0].edit.document_changes[0]  # type: ignore[union-attr,index]
    assert isinstance(change, types.TextDocumentEdit)
    assert change.text_document.version == 12
    edit = change.edits[0]
    assert isinstance(edit, types.TextEdit)
    assert edit.range.start == types.Position(line=1, character=2)
    assert edit.range.end == types.Position(line=1, character=expected_end[encoding])
    assert edit.new_text == "exact (h : ∀ n : ℕ, f n ∈ 𝓝 x ⊢ done)"
    ghost = inline_completions(result(), encode, cursor=len(line))
    assert ghost.items[0].insert_text == edit.new_text and ghost.items[0].range == edit.range


def test_title_counts_goals_left() -> None:
    one = Suggestion("apply h", Verdict.VALID, ("g",), None, "model")
    assert suggestion_title(one) == "Try this: apply h (1 goal left)"


def test_publication_time_is_reported_with_the_other_stages_and_the_result_stays_as_it_was() -> None:
    computed = result()
    before = dict(computed.timings_ms)
    assert "publish" not in suggestion_report(computed)["timings_ms"]
    actions, publish_ms = timed_publication(lambda: code_actions(computed, lambda text, index: index))
    assert len(actions) == 2  # what was built is returned unchanged
    assert suggestion_report(computed, publish_ms)["timings_ms"]["publish"] == round(publish_ms, 2)
    assert computed.timings_ms == before  # a cached result is shared: publication never changes it


@pytest.mark.parametrize("cursor", range(len("  sorry -- c") + 1))
def test_ghost_text_follows_vscodes_rules_at_every_cursor(cursor: int) -> None:
    """On the cursor's line, containing the cursor, typed text before the cursor a prefix of it,
    and applied it gives the line with just the `sorry` replaced; where no such item exists (the
    cursor inside or after `sorry`), none is offered rather than a wrong one."""
    lines = ["theorem t : 2 = 2 := by", "  sorry -- c"]
    point = find_suggestion_point(lines, 1)
    computed = SuggestionSet(
        "file:///p/A.lean", 3, point, ("⊢ 2 = 2",), (Suggestion("rfl", Verdict.CLOSES, (), None, "m"),)
    )
    items = inline_completions(computed, lambda text, index: index, cursor).items
    line = lines[1]
    assert len(items) == (1 if cursor <= len("  ") else 0)  # typed `s…` is no prefix of `rfl`
    for item in items:
        assert item.range is not None and item.range.start.line == item.range.end.line == 1
        start, end = item.range.start.character, item.range.end.character
        assert start <= cursor <= end
        assert isinstance(item.insert_text, str) and item.insert_text.startswith(line[start:cursor])
        assert line[:start] + item.insert_text + line[end:] == "  rfl -- c"


@pytest.mark.parametrize(("line", "after"), [("  exact ", "  exact h"), ("  exact -- c", "  exact h -- c")])
def test_ghost_text_after_a_typed_prefix_and_a_space_leaves_no_stray_space(line: str, after: str) -> None:
    """Typing `exact ` then Tab once gave `  exact h (Nat.le_succ n) ` (the space put back after the
    tactic); spaces before a comment stay."""
    lines = ["theorem t (h : p) : p := by", line]
    point = find_suggestion_point(lines, 1)
    assert point is not None
    suggestion = Suggestion("exact h", Verdict.CLOSES, (), None, "m")
    computed = SuggestionSet("file:///p/A.lean", 3, point, ("⊢ p",), (suggestion,))
    cursor = len("  exact ")
    [item] = inline_completions(computed, lambda text, index: index, cursor).items
    assert item.range is not None and isinstance(item.insert_text, str)
    start, end = item.range.start.character, item.range.end.character
    assert start <= cursor <= end and item.insert_text.startswith(line[start:cursor])
    assert line[:start] + item.insert_text + line[end:] == after
