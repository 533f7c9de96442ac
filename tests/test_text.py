"""The mirror is the editor's text: LSP lines, clamping as VS Code clamps, every encoding.

The property test applies random edit sequences, over text full of line-separator lookalikes,
astral characters, CR/LF mixes, tabs and a BOM, with ranges in and out of bounds and reversed, to
`DocumentStore` (what the server mirrors to Lean) and to the independent reference model in
`tests/support/lsp_text.py`, and compares the texts.
"""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from llmstep_lsp.text.documents import DocumentStore
from llmstep_lsp.text.encoding import column_of, index_of, units
from llmstep_lsp.text.lines import Position, apply_change, split_lines
from tests.support.lsp_text import apply_utf16

# Every character Python's str.splitlines breaks at, and the ones LSP breaks at, and friends.
TRICKY = "\n\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029\t\ufeff𝓝😀ℕ⊢é "
ALPHABET = st.sampled_from([*TRICKY, "\r\n", "a", "b", "sorry", " -- c"])
TEXT = st.lists(ALPHABET, max_size=30).map("".join)
EDIT = st.tuples(
    st.integers(0, 8), st.integers(0, 40), st.integers(0, 8), st.integers(0, 40), TEXT, st.booleans()
)


@settings(max_examples=400, deadline=None)
@given(TEXT, st.lists(EDIT, max_size=12))
def test_random_edit_sequences_mirror_the_editor_text(initial: str, edits: list[tuple]) -> None:  # type: ignore[type-arg]
    store = DocumentStore()
    store.open("file:///p/A.lean", 1, initial)
    expected = initial
    for version, (sl, sc, el, ec, new_text, whole) in enumerate(edits, start=2):
        if whole:
            change: object = new_text
            expected = new_text
        else:
            change = (Position(sl, sc), Position(el, ec), new_text)
            expected = apply_utf16(expected, (sl, sc), (el, ec), new_text)
        document = store.change("file:///p/A.lean", version, [change])  # type: ignore[list-item]
        assert document is not None and document.version == version
        assert document.text == expected


def test_only_lsp_line_breaks_end_a_line() -> None:
    assert split_lines("a\u2028b\x85c\x0bd\x0ce\x1cf\u2029g\r\nh\ri\nj") == [
        "a\u2028b\x85c\x0bd\x0ce\x1cf\u2029g",
        "h",
        "i",
        "j",
    ]
    assert split_lines("") == [""] and split_lines("x\n") == ["x", ""]


def test_an_edit_after_a_unicode_line_separator_lands_on_the_editors_line() -> None:
    # pygls's TextDocument (str.splitlines) counted U+2028 as a line break: this edit landed a line
    # too far and `theorem` arrived in Lean as `th…`.
    text = "-- a\u2028comment\ntheorem t : 2 = 2 := by\n  sorry -- second\n"
    changed = apply_change(text, Position(2, 2), Position(2, 7), "rfl")
    assert changed == "-- a\u2028comment\ntheorem t : 2 = 2 := by\n  rfl -- second\n"


def test_a_column_past_the_line_end_stops_before_its_line_break() -> None:
    # An end column of exactly the line's length + 1 merged two lines.
    assert apply_change("ab\r\ncd", Position(0, 1), Position(0, 3), "X") == "aX\r\ncd"
    assert apply_change("ab\ncd", Position(0, 0), Position(0, 99), "") == "\ncd"


def test_a_line_past_the_end_is_the_documents_end() -> None:
    assert apply_change("ab\ncd", Position(1, 1), Position(7, 0), "X") == "ab\ncX"
    assert apply_change("ab\ncd", Position(9, 0), Position(9, 4), "!") == "ab\ncd!"


def test_a_reversed_range_is_read_the_right_way_round() -> None:
    assert apply_change("hello world", Position(0, 11), Position(0, 6), "there") == "hello there"


def test_a_position_inside_a_surrogate_pair_never_splits_it() -> None:
    # 𝓝 is two UTF-16 units; column 1 is between them.
    assert apply_change("𝓝x", Position(0, 1), Position(0, 1), "a") == "a𝓝x"  # an insertion moves back
    assert apply_change("𝓝x", Position(0, 0), Position(0, 1), "") == "x"  # a range end widens


def test_columns_in_each_encoding() -> None:
    line = "é𝓝x"
    assert [units(line, e) for e in ("utf-8", "utf-16", "utf-32")] == [2 + 4 + 1, 1 + 2 + 1, 3]
    assert column_of(line, 2, "utf-8") == 6 and column_of(line, 2, "utf-16") == 3
    assert index_of(line, 6, "utf-8") == 2 and index_of(line, 4, "utf-8") == 1  # inside 𝓝 → its start
    assert index_of(line, 4, "utf-8", round_up=True) == 2
    store = DocumentStore("utf-8")
    store.open("u", 1, "é𝓝x\n")
    document = store.change("u", 2, [(Position(0, 2), Position(0, 6), "N")])
    assert document is not None and document.text == "éNx\n"
