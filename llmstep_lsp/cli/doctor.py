"""`llmstep-lsp doctor`: what the sidecar would use here, and the fix for every problem found."""

from __future__ import annotations

import asyncio
import importlib.metadata
import shutil
import sys
from pathlib import Path

from llmstep_lsp.config.settings import Settings
from llmstep_lsp.generation import ModelUnavailable
from llmstep_lsp.generation.backends.llama_launch import find_launcher
from llmstep_lsp.generation.base import INSTALL_MODEL_BACKEND
from llmstep_lsp.generation.factory import build_model_generator
from llmstep_lsp.lean.project import find_project
from llmstep_lsp.verification.repl import ReplError, ReplProcess

LARGE_MODEL_BYTES = 2 << 30
"""Weights above this (about a 1B-parameter model in bf16) generate slowly on a CPU: worth a hint."""
_KNOWN_SIZES = {"wellecks/llmstep-mathlib4-pythia2.8b": 5_680_000_000}  # the default preset's (fp16)


async def run_doctor(settings: Settings, path: Path) -> int:
    """Print what the sidecar would use for `path` and every problem with its fix; exit status 0
    when nothing is wrong, 1 otherwise. A model that cannot load is a problem, but a partial one:
    the model-free suggestions still work, and the report says so."""
    problems = 0

    def report(ok: bool, what: str, fix: str = "") -> None:
        nonlocal problems
        print(f"[{'ok' if ok else '!!'}] {what}")
        if not ok:
            problems += 1
            if fix:
                print(f"     fix: {fix}")

    print(f"llmstep-lsp doctor (Python {sys.version.split()[0]})")
    # The programs the Lean server command runs: `leanCommand`'s own when it is set.
    tools = (settings.lean_command[0],) if settings.lean_command else ("lake", "lean")
    for tool in tools:
        location = shutil.which(tool)
        if location is None:
            fix = "install Lean with elan (https://lean-lang.org/install), then restart the editor"
            report(False, f"{tool}: not on PATH", "check 'leanCommand'" if settings.lean_command else fix)
        else:
            report(True, f"{tool}: {location} — {await _version(location)}")

    if not await asyncio.to_thread(path.exists):  # a file or a project directory is fine
        report(False, f"{path}: no such file or directory", "give a .lean file or the project's directory")
    project = find_project(path, settings.project_root)
    command = " ".join(project.server_command(settings.lean_command))
    marker = "lakefile" if project.uses_lake else "no lakefile: plain Lean server"
    report(
        project.root.exists(),
        f"project root: {project.root} ({marker})",
        "open a file inside a Lean project, or set 'projectRoot'",
    )
    print(f"     Lean server command: {command}")

    if settings.verifier == "repl" and settings.repl_command:
        report(*await _repl_line(settings.repl_command, project.root, settings.lean_start_timeout_s))

    config = settings.generation()
    if config is None:
        report(True, "model: none configured (model-free candidates only)")
    else:
        if config.backend.startswith("transformers"):
            report(*_device_line(settings.device, config.model))
        if config.backend == "llama.cpp":
            for line in await _llama_cpp_lines(config.model, settings.llama_server):
                report(*line)
        print(f"     preset {settings.preset}: {config.backend} backend, format {config.format.name}")
        generator = build_model_generator(config)
        try:
            loaded = await generator.load()
            device, dtype = getattr(loaded, "device", None), getattr(loaded, "dtype", None)
            where = f" on {device} ({dtype})" if device else ""
            report(True, f"model: {config.model} loads{where}")
        except ModelUnavailable as err:
            report(False, f"model: {err}")
            print("     until then, suggestions come from the model-free tactics alone")
        finally:
            await generator.close()  # a llama.cpp server started for the check stops
    print("all good" if problems == 0 else f"{problems} problem(s) found")
    return 0 if problems == 0 else 1


async def _repl_line(command: tuple[str, ...], root: Path, timeout_s: float) -> tuple[bool, str, str]:
    """Start the REPL the way the verifier does and load an empty environment."""
    shown = " ".join(command)
    try:
        async with asyncio.timeout(timeout_s):
            process = await ReplProcess.start(command, str(root), "")
    except (ReplError, OSError, TimeoutError) as err:
        fix = "build leanprover-community/repl for the project's Lean version and set 'replCommand'"
        return False, f"REPL ({shown}): {err or 'no answer in time'}", fix
    await process.stop()
    return True, f"REPL: {shown} answers in {root}", ""


async def _llama_cpp_lines(model: str, setting: str | None) -> list[tuple[bool, str, str]]:
    """The `llama.cpp` backend's GGUF file and the server program that would run it, with versions."""
    size = await asyncio.to_thread(_file_size, model)
    if size is not None:
        lines = [(True, f"GGUF file: {model} ({size / (1 << 20):.0f} MB)", "")]
    else:
        lines = [(False, f"GGUF file: {model} does not exist", "set 'model' to the path of a .gguf file")]
    try:
        launcher = find_launcher(setting)
    except ModelUnavailable as err:
        reason, _, fix = str(err).partition(" Fix: ")
        return [*lines, (False, f"llama.cpp server: {reason}", fix)]
    if launcher.route == "llama-server":
        version = await _version(launcher.program[0])
    else:
        version = f"llama-cpp-python {importlib.metadata.version('llama_cpp_python')} (one request at a time)"
    return [*lines, (True, f"llama.cpp server: {launcher.describe()} — {version}", "")]


def _file_size(path: str) -> int | None:
    """The size in bytes of the file at `path` (`~` expanded), or None when there is no such file."""
    file = Path(path).expanduser()
    return file.stat().st_size if file.is_file() else None


def _device_line(wanted: str, model: str) -> tuple[bool, str, str]:
    """The device a local `model` would run on; a hint where that is a CPU and the model is large."""
    try:
        import torch
    except ImportError:
        return (
            False,
            "device: torch is not installed",
            INSTALL_MODEL_BACKEND,
        )
    if torch.cuda.is_available():
        found = f"cuda ({torch.cuda.get_device_name(0)})"
    elif getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
        found = "mps (Apple GPU)"
    else:
        found = "cpu"
        if (size := _weights_bytes(model)) is not None and size > LARGE_MODEL_BYTES:
            found += (
                f" (no GPU found: {model} has {size / (1 << 30):.1f} GB of weights, slow to sample on a"
                " CPU; consider a smaller model, e.g. the `reprover` preset)"
            )
    chosen = found if wanted == "auto" else f"{wanted} (set by 'device'; detected {found})"
    return True, f"device: {chosen}, torch {torch.__version__}", ""


def _weights_bytes(model: str) -> int | None:
    """Size in bytes of a local model directory's weight files, or of a known hub model; None
    otherwise (nothing is downloaded to find out)."""
    folder = Path(model).expanduser()
    if not folder.is_dir():
        return _KNOWN_SIZES.get(model)
    weights = [f for f in folder.iterdir() if f.suffix in (".safetensors", ".bin", ".gguf", ".pt")]
    return sum(f.stat().st_size for f in weights) if weights else None


async def _version(executable: str) -> str:
    try:
        process = await asyncio.create_subprocess_exec(
            executable, "--version", stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT
        )
        out, _ = await asyncio.wait_for(process.communicate(), 30)
    except (OSError, TimeoutError) as err:
        return f"version unknown ({err})"
    return out.decode(errors="replace").strip().splitlines()[0] if out.strip() else "version unknown"
