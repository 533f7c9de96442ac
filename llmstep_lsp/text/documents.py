"""The editor's open documents, mirrored exactly: the one home of their text and version.

pygls keeps its own copies (`TextDocument`), split with `str.splitlines`, which breaks lines where
LSP does not (U+2028, U+0085, …), so an incremental change lands on the wrong line and the copy
drifts from the editor's text under the same version. The server keeps the editor's documents here
instead and never reads pygls's copies. The server owns the one store and updates it; the
engine and the scheduler read it (`pipeline/engine.py`, `lsp/scheduling.py`).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from llmstep_lsp.text.encoding import UTF16, Encoding
from llmstep_lsp.text.lines import Position, apply_change

Change = tuple[Position, Position, str] | str
"""An incremental change (start, end, new text), or a whole new text."""


@dataclass(frozen=True)
class MirroredDocument:
    """An editor document as the editor has it: `text` byte for byte, at editor `version`."""

    uri: str
    version: int
    text: str


class DocumentStore:
    """Open documents by URI, updated by `didOpen` / `didChange` / `didClose` in arrival order."""

    def __init__(self, encoding: Encoding = UTF16) -> None:
        self.encoding = encoding
        """The position encoding agreed at `initialize`: the unit of the columns in changes."""
        self._documents: dict[str, MirroredDocument] = {}

    def open(self, uri: str, version: int, text: str) -> MirroredDocument:
        """Start mirroring `uri` (a second open replaces the first)."""
        document = self._documents[uri] = MirroredDocument(uri, version, text)
        return document

    def change(self, uri: str, version: int, changes: Iterable[Change]) -> MirroredDocument | None:
        """Apply `changes` in order (LSP: each applies to the text the previous one left); None for a
        document that is not open."""
        document = self._documents.get(uri)
        if document is None:
            return None
        text = document.text
        for change in changes:
            text = change if isinstance(change, str) else apply_change(text, *change, self.encoding)
        document = self._documents[uri] = MirroredDocument(uri, version, text)
        return document

    def close(self, uri: str) -> None:
        """Stop mirroring `uri`."""
        self._documents.pop(uri, None)

    def get(self, uri: str) -> MirroredDocument | None:
        """The document as the editor has it now, or None if it is not open."""
        return self._documents.get(uri)

    def is_current(self, uri: str, version: int) -> bool:
        """Whether `uri` is open at `version`: false once the editor changed or closed it (work done
        for `version` is then stale). Every "is this still the editor's text" check asks here."""
        document = self._documents.get(uri)
        return document is not None and document.version == version

    def uris(self) -> list[str]:
        """The open documents' URIs (a copy: safe to iterate while documents open and close)."""
        return list(self._documents)

    def __contains__(self, uri: object) -> bool:
        return uri in self._documents
