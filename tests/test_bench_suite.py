"""The benchmark suite runs end to end (quick mode) and its JSON has every section, with sane values.

No timing goals here: those are the suite's own output (bench/README.md), never test assertions.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO
from tests.support.tiny_model import NEEDS_SHARED_DATA, SHARED_DATA

RUNTIME_CASES = SHARED_DATA.parent / "llmstep_runtime_test_cases.jsonl"

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(not RUNTIME_CASES.exists(), reason=NEEDS_SHARED_DATA),  # the suite's workload
]


def assert_distribution(values: dict[str, float], n: int) -> None:
    assert values["n"] == n
    assert 0 <= values["p50"] <= values["p95"]


def test_quick_suite_writes_every_section(tmp_path: Path, tiny_model: Path) -> None:
    out = tmp_path / "bench.json"
    completed = subprocess.run(
        [
            sys.executable,
            "bench/suite.py",
            "--quick",
            "--skip-generation",
            "--states",
            "3",
            "--json",
            str(out),
        ],
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr[-3000:]
    report = json.loads(out.read_text())

    stages = report["stages"]
    assert (stages["states"], stages["rounds"]) == (3, 1)
    for stage in ("goal", "generate", "verify", "publish", "total", "client_code_action"):
        assert_distribution(stages["ms"][stage], 3)
    # the engine's stages fit in its total; the code action is answered once suggestions are
    # settled (`first`, the model-free ones may come before the model's), and the client also
    # waits for the debounce and transport
    assert stages["ms"]["verify"]["p50"] <= stages["ms"]["total"]["p95"]
    assert stages["ms"]["first"]["p50"] <= stages["ms"]["total"]["p95"]
    assert stages["ms"]["client_code_action"]["mean"] >= stages["ms"]["first"]["mean"]
    assert stages["fraction_with_suggestions"] == 1.0  # every goal got verified code actions
    assert stages["sidecar_rss_mb_with_tiny_model"] > 0

    overhead = report["lsp_overhead"]
    for kind in ("code_action", "inline_completion", "suggest_request", "baseline_plain_text"):
        assert_distribution(overhead[kind], report["config"]["requests"])
        assert overhead[kind]["p50"] > 0
    assert isinstance(overhead["pass"], bool)

    idle = report["idle"]
    assert idle["rss_mb"] > 0 and idle["cpu_percent_of_one_core"] >= 0 and idle["seconds"] >= 2
    assert report["generation"] == {"skipped": True}
    # the printed table names every section, and so does the README table made from the JSON
    markdown = subprocess.run(
        [sys.executable, "bench/suite.py", "--markdown", str(out)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    ).stdout
    for heading in ("stages (ms)", "LSP overhead (ms)", "idle, no model", "generation"):
        assert heading in completed.stdout
        assert f"| {heading} |" in markdown
