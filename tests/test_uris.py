"""URIs no file can have give no path and no project, logged once, and raise nothing."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from llmstep_lsp.text.uris import project_of, uri_to_path


@pytest.mark.parametrize(
    "uri",
    [
        "file:///p/Bad%00Name.lean",  # an embedded NUL: every os call raised "embedded null byte"
        "file:///p/%ED%A0%80.lean",  # a lone surrogate, not UTF-8
        "file:relative/A.lean",
    ],
)
def test_unusable_file_uris_have_no_path_and_are_logged_once(
    uri: str, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="llmstep_lsp.text.uris"):
        assert uri_to_path(uri) is None
        assert project_of(uri) is None
    assert len([r for r in caplog.records if uri[:20] in r.getMessage()]) == 1


def test_other_schemes_have_no_path_and_plain_files_do() -> None:
    assert uri_to_path("untitled:Untitled-1") is None
    assert uri_to_path("file:///p/A%20B.lean") == Path("/p/A B.lean")


def test_a_name_too_long_for_the_file_system_has_no_project(tmp_path: Path) -> None:
    uri = (tmp_path / ("x" * 5000) / "A.lean").as_uri()
    assert project_of(uri) is None
