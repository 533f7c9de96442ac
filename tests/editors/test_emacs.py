"""`emacs --batch` + eglot as the client, configured by the README's eglot snippet verbatim:
`eglot-code-actions` at a proof position, default taken."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.editors.clients import (
    HERE,
    TRAILING_COMMENT,
    TWO_EQ_TWO_ACTIONS,
    TWO_EQ_TWO_COLUMN,
    TWO_EQ_TWO_LINE,
    comment_the_sorry,
    fake_lean_violations,
    lean_processes_alive,
    llmstep_on_path,
    readme_snippet,
    require_editor,
    run_editor,
)

pytestmark = pytest.mark.editors


def test_eglot_applies_the_preferred_verified_code_action(
    tmp_path: Path, lean_project: Path, fake_state: Path
) -> None:
    emacs = require_editor(shutil.which("emacs"), "Emacs", "apt-get install emacs-nox elpa-eglot")
    config = tmp_path / "llmstep-eglot.el"
    config.write_text(readme_snippet("elisp", "(with-eval-after-load 'eglot"))
    path = lean_project / "Examples.lean"
    comment_the_sorry(path)
    before = path.read_bytes()
    run = run_editor(
        [emacs, "--batch", "-Q", "-l", str(HERE / "emacs_code_action.el"), str(path)],
        tmp_path,
        TWO_EQ_TWO_LINE,
        TWO_EQ_TWO_COLUMN,
        PATH=llmstep_on_path(tmp_path, fake_state),
        LLMSTEP_EMACS_CONFIG=str(config),
    )
    assert run.returncode == 0, run
    assert run.one("languageId") == "lean4"
    assert run.one("inlineCompletionProvider") == "true"
    # What eglot offers in its "Pick an action" prompt, and its default: the preferred suggestion.
    assert run.lines["code action"] == TWO_EQ_TWO_ACTIONS, run
    assert run.one("prompt").endswith("(default Try this: rfl (closes goal)): ")
    assert run.one("line after") == f'"  rfl{TRAILING_COMMENT}"'  # the comment stays
    assert run.one("stopped") == "true"
    assert path.read_bytes() == before, "the buffer was edited, the file on disk must not be"
    assert lean_processes_alive(fake_state) == []
    assert fake_lean_violations(fake_state) == ""
