"""Column conversions between Python strings and UTF-16 code units.

Lean's server counts LSP `character` in UTF-16 code units and Lean text is full of characters
outside the Basic Multilingual Plane (`𝓝`, `𝔼`, script letters) that take two units each, while
Python indexes code points. Every column that crosses the Lean wire goes through these helpers.
"""


def utf16_len(text: str) -> int:
    """Number of UTF-16 code units in `text`."""
    return sum(2 if ord(ch) > 0xFFFF else 1 for ch in text)


def utf16_to_index(line: str, units: int) -> int:
    """Code-point index in `line` of a UTF-16 column (clamped to the line, never splits a pair)."""
    seen = 0
    for index, ch in enumerate(line):
        if seen >= units:
            return index
        seen += 2 if ord(ch) > 0xFFFF else 1
    return len(line)


def index_to_utf16(line: str, index: int) -> int:
    """UTF-16 column of the code-point index `index` in `line`."""
    return utf16_len(line[: max(0, index)])
