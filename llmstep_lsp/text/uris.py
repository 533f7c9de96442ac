"""Editor URIs → local paths, refusing the ones no file can have.

A `file://` URI can decode to a path the operating system rejects (`%00` gives an embedded NUL,
`%ED%A0%80` a lone surrogate) or to a relative path. Such a document gets no Lean server and no
answers; it must not break anything else (issue 14: one `%00` URI made every later `didOpen` fail).
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from urllib.parse import unquote, urlparse

from llmstep_lsp.lean.project import LeanProject, find_project

log = logging.getLogger(__name__)
_reported: set[str] = set()


def uri_to_path(uri: str) -> Path | None:
    """The local path of a `file://` URI; None for other schemes and for paths no file can have
    (an unusable one is logged once per URI)."""
    try:
        parsed = urlparse(uri)
    except ValueError:
        return _unusable(uri, "not a URI")
    if parsed.scheme != "file":
        return None
    try:
        path = unquote(parsed.path, errors="strict")
    except UnicodeDecodeError:
        return _unusable(uri, "the path is not valid UTF-8")
    if "\x00" in path:
        return _unusable(uri, "the path holds a NUL character")
    try:
        os.fsencode(path)
    except UnicodeError:
        return _unusable(uri, "the path is not valid in the file system's encoding")
    if not path.startswith("/"):
        return _unusable(uri, "the path is not absolute")
    return Path(path)


def _unusable(uri: str, why: str) -> Path | None:
    """None, after logging (once per URI) why `uri` is unusable."""
    if uri not in _reported:
        _reported.add(uri)
        log.warning("ignoring %r: %s", uri[:200], why)
    return None


def project_of(uri: str, project_root: str | None = None) -> LeanProject | None:
    """The Lean project of `uri` (`find_project`); None for a URI that is no usable local path or
    whose path the file system refuses (a name too long, …), logged."""
    path = uri_to_path(uri)
    if path is None:
        return None
    try:
        return find_project(path, project_root)
    except (OSError, ValueError) as err:
        log.warning("no Lean project for %r: %s", uri[:200], err)
        return None
