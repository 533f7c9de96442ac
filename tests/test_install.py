"""What a new user installs is what the tests test: the README's commands and declared dependencies."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def _fenced_commands(markdown: str) -> list[str]:
    return [block.strip() for block in re.findall(r"```sh\n(.*?)```", markdown, flags=re.DOTALL)]


def test_ci_runs_the_readmes_test_command_literally() -> None:
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    [test_command] = [c for c in _fenced_commands(readme) if c.endswith("python -m pytest")]
    assert test_command.startswith("pip install "), "one line: install what the tests need, run them"
    ci = (REPO / ".ci" / "run").read_text(encoding="utf-8")
    body = re.search(r"readme_test_command\(\) \{\n(.*?)\n\}", ci, flags=re.DOTALL)
    assert body is not None and body.group(1).strip() == test_command
    assert ci.rstrip().endswith("readme_test_command"), "and runs it, last"
    assert re.search(r"python3 -m venv ", ci), "in a virtual environment of its own"


def test_every_imported_third_party_module_is_declared_where_it_is_needed() -> None:
    """deptry: missing (DEP001), unused (DEP002), transitive-only (DEP003) or test-only (DEP004)."""
    deptry = shutil.which("deptry", path=str(Path(sys.executable).parent)) or shutil.which("deptry")
    if deptry is None:
        pytest.skip("deptry is not installed (it comes with the test extra)")
    result = subprocess.run(
        [deptry, "llmstep_lsp"], cwd=REPO, capture_output=True, text=True, timeout=120, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr
