"""The benchmark suite: one command, a table on stdout and a JSON file.

    python bench/suite.py [--latency-ms 100] [--rounds 3] [--requests 200] [--idle-s 10]
                          [--states N] [--skip-generation] [--quick] [--json bench/results/latest.json]

Everything runs through the real sidecar process (`python -m llmstep_lsp serve --stdio`) and a real
LSP client (pygls), with the fake Lean (`tests/fake_lean/server.py --latency-ms N`) as
`leanCommand`: timings include the JSON-RPC transport both ways, as an editor sees them.

Sections:
- stages: p50/p95 per stage (goal read, generation, verification, publication; from the
  `timings_ms` of `$/llmstep/suggest`) over the 17 goal states of llmstep's runtime benchmark,
  with the tiny test model; plus the client-side time of the code action that computed them
  (which includes the 150 ms debounce). Every round edits the file, so nothing is cached.
- lsp_overhead: round trips of a cached code action and a cached inline completion (goal
  ≤ 5 ms p50), next to a code action on a plain-text document (the transport and pygls alone) and a
  cached `$/llmstep/suggest`. The four kinds alternate, so machine noise hits them alike.
- idle: CPU (% of one core) and resident memory of the sidecar alone (not its fake Lean child)
  with no model, a document open, over `--idle-s` seconds.
- generation: `bench/generation.py` (our sampler vs llmstep's loop) run as a subprocess.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench.lsp_client import BenchClient, timed  # noqa: E402
from bench.workload import AUTOMATION, CASES, Workload, build_workload, load_cases  # noqa: E402

STAGES = ("goal", "generate", "verify", "publish", "total")
OVERHEAD_GOAL_MS = 5.0
DEFAULT_JSON = REPO / "bench" / "results" / "latest.json"


def percentiles(values: list[float]) -> dict[str, float]:
    """p50/p95 (linear interpolation between order statistics), mean and count."""
    ordered = sorted(values)
    if not ordered:
        return {"n": 0}

    def at(q: float) -> float:
        position = q * (len(ordered) - 1)
        low = int(position)
        high = min(low + 1, len(ordered) - 1)
        return ordered[low] + (ordered[high] - ordered[low]) * (position - low)

    return {"n": len(ordered), "p50": at(0.5), "p95": at(0.95), "mean": statistics.fmean(ordered)}


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmRSS for pid {pid}")


def cpu_seconds(pid: int) -> float:
    """utime + stime of one process (not its children), from /proc/<pid>/stat."""
    stat = Path(f"/proc/{pid}/stat").read_text()
    fields = stat[stat.rindex(")") + 2 :].split()  # the command name may contain spaces
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def server_options(workload: Workload, latency_ms: int, model: str) -> dict[str, Any]:
    return {
        "leanCommand": workload.lean_command(latency_ms),
        "model": model,
        "automationTactics": list(AUTOMATION),
        "codeActionWaitMs": 600_000,  # a request waits for the whole computation: we time it
        "goalTimeoutS": 120,
        "verifyTimeoutS": 120,
    }


async def measure_stages(client: BenchClient, workload: Workload, uri: str, rounds: int) -> dict[str, Any]:
    """Per-stage timings over every case, `rounds` times."""
    samples: dict[str, list[float]] = {stage: [] for stage in (*STAGES, "first", "client_code_action")}
    suggestions: list[int] = []
    version = 1
    for round_ in range(1, rounds + 1):
        version += 1
        client.replace(uri, version, workload.text(round_))
        for index in range(len(workload.cases)):
            line, character = workload.line_of(index), len(workload.line_text(index))
            elapsed, actions = await timed(client.code_actions(uri, line, character))
            report = await client.suggest_report(uri, line)
            if report is None or report.version != version:
                raise RuntimeError(f"no report for case {index} at version {version}")
            timings = report.timings_ms._asdict()  # pygls turns untyped results into named tuples
            missing = [stage for stage in STAGES if stage not in timings]
            if missing:
                raise RuntimeError(f"case {index}: no {missing} timings ({report.note!r})")
            for stage in STAGES:
                samples[stage].append(float(timings[stage]))
            if "first" in timings:  # suggestions were settled (the model-free ones may come first)
                samples["first"].append(float(timings["first"]))
            samples["client_code_action"].append(elapsed)
            suggestions.append(len(actions))
    section = {
        "states": len(workload.cases),
        "rounds": rounds,
        "ms": {name: percentiles(values) for name, values in samples.items()},
        "mean_verified_suggestions": statistics.fmean(suggestions),
        "fraction_with_suggestions": sum(1 for count in suggestions if count) / len(suggestions),
    }
    return section


async def measure_overhead(
    client: BenchClient, workload: Workload, uri: str, plain_uri: str, requests: int
) -> dict[str, Any]:
    """Round trips of cached requests at one position (case 0), the kinds interleaved."""
    line, character = workload.line_of(0), len(workload.line_text(0))
    kinds: dict[str, Callable[[], Awaitable[Any]]] = {
        "code_action": lambda: client.code_actions(uri, line, character),
        "inline_completion": lambda: client.inline_completions(uri, line, character),
        "suggest_request": lambda: client.suggest_report(uri, line),
        "baseline_plain_text": lambda: client.code_actions(plain_uri, 0, 0),
    }
    actions = await client.code_actions(uri, line, character)
    if not actions:
        raise RuntimeError("the overhead position has no cached suggestions")
    samples: dict[str, list[float]] = {kind: [] for kind in kinds}
    for _ in range(requests):
        for kind, request in kinds.items():
            elapsed, _result = await timed(request())
            samples[kind].append(elapsed)
    section: dict[str, Any] = {kind: percentiles(values) for kind, values in samples.items()}
    section["code_actions_returned"] = len(actions)
    section["goal_p50_ms"] = OVERHEAD_GOAL_MS
    section["pass"] = all(section[k]["p50"] <= OVERHEAD_GOAL_MS for k in ("code_action", "inline_completion"))
    return section


async def run_with_model(workload: Workload, args: argparse.Namespace, logs: Path) -> dict[str, Any]:
    from tests.support.tiny_model import build_tiny_model

    model = build_tiny_model()
    client = BenchClient(logs / "sidecar-model.log")
    await client.start(workload.project, server_options(workload, args.latency_ms, str(model)))
    try:
        uri = client.open(workload.document, workload.text(0))
        plain = workload.project / "NOTES.txt"
        plain_uri = client.open(plain, "not Lean\n", language_id="plaintext")
        # Warm-up (not measured): starts the fake Lean and loads the model.
        started = time.perf_counter()
        await client.code_actions(uri, workload.line_of(0), 0)
        warm_up_s = time.perf_counter() - started
        stages = await measure_stages(client, workload, uri, args.rounds)
        overhead = await measure_overhead(client, workload, uri, plain_uri, args.requests)
        stages["warm_up_s"] = warm_up_s
        stages["sidecar_rss_mb_with_tiny_model"] = rss_mb(client.pid)
        stages["model"] = model.name
        return {"stages": stages, "lsp_overhead": overhead}
    finally:
        await client.stop()


async def measure_idle(workload: Workload, args: argparse.Namespace, logs: Path) -> dict[str, Any]:
    """The sidecar alone, no model, one document open and its Lean session started, left idle."""
    client = BenchClient(logs / "sidecar-idle.log")
    await client.start(workload.project, server_options(workload, args.latency_ms, ""))
    try:
        uri = client.open(workload.document, workload.text(0))
        await client.code_actions(uri, workload.line_of(0), 0)  # Lean session up, first result in
        await asyncio.sleep(1.0)  # let the hint diagnostic and status notifications settle
        cpu_before, wall_before = cpu_seconds(client.pid), time.perf_counter()
        await asyncio.sleep(args.idle_s)
        cpu = cpu_seconds(client.pid) - cpu_before
        wall = time.perf_counter() - wall_before
        return {
            "seconds": wall,
            "cpu_percent_of_one_core": 100 * cpu / wall,
            # /proc counts CPU time in clock ticks: below one tick over the window reads as 0
            "cpu_percent_resolution": 100 / (os.sysconf("SC_CLK_TCK") * wall),
            "rss_mb": rss_mb(client.pid),
            "measured": "the sidecar process alone (its fake Lean child is not counted), model ''",
        }
    finally:
        await client.stop()


def run_generation(rounds: int, workdir: Path) -> dict[str, Any]:
    """bench/generation.py as a subprocess: it is its own benchmark, and another issue's file."""
    out = workdir / "generation.json"
    command = [
        sys.executable,
        str(REPO / "bench" / "generation.py"),
        "--rounds",
        str(rounds),
        "--json",
        str(out),
    ]
    completed = subprocess.run(command, capture_output=True, text=True, timeout=1800, check=False)
    if completed.returncode != 0 or not out.exists():
        raise RuntimeError(
            f"bench/generation.py failed ({completed.returncode}):\n{completed.stderr[-2000:]}"
        )
    result: dict[str, Any] = json.loads(out.read_text())
    return result


def machine() -> dict[str, Any]:
    model_name = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        platform.processor() or "unknown CPU",
    )
    return {
        "cpu": model_name,
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "load_average_at_start": list(os.getloadavg()),
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
    }


def headline(report: dict[str, Any]) -> str:
    info, config = report["machine"], report["config"]
    load = f"{info['load_average_at_start'][0]:.2f}→{info['load_average_at_end'][0]:.2f}"
    return (
        f"{info['cpu']}, {info['cpus']} CPUs, load average {load}; fake Lean latency "
        f"{config['latency_ms']} ms; {config['states']} goal states × {config['rounds']} rounds; "
        f"{config['requests']} cached requests per kind"
    )


def table_rows(report: dict[str, Any]) -> list[tuple[str, str, str, str]]:
    """(section, metric, p50 or value, p95) for the printed and the Markdown table."""
    rows: list[tuple[str, str, str, str]] = []
    stages = report["stages"]
    names = {
        "goal": "goal read",
        "generate": "generation (tiny model + automation)",
        "verify": "verification",
        "publish": "publication (build code actions)",
        "total": "total (engine)",
        "client_code_action": "code action at the client (+150 ms debounce)",
    }
    for key, name in names.items():
        value = stages["ms"][key]
        rows.append(("stages (ms)", name, f"{value['p50']:.2f}", f"{value['p95']:.2f}"))
    overhead = report["lsp_overhead"]
    for key, name in (
        ("code_action", "cached code action"),
        ("inline_completion", "cached inline completion"),
        ("suggest_request", "cached $/llmstep/suggest"),
        ("baseline_plain_text", "code action, plain-text doc (transport)"),
    ):
        rows.append(("LSP overhead (ms)", name, f"{overhead[key]['p50']:.2f}", f"{overhead[key]['p95']:.2f}"))
    verdict = "pass" if overhead["pass"] else "FAIL"
    rows.append(("LSP overhead (ms)", f"goal: ≤ {overhead['goal_p50_ms']:g} ms p50", verdict, ""))
    idle = report["idle"]
    cpu = f"{idle['cpu_percent_of_one_core']:.2f}"
    if idle["cpu_percent_of_one_core"] == 0 and "cpu_percent_resolution" in idle:
        cpu = f"< {idle['cpu_percent_resolution']:.2f}"  # not one clock tick in the whole window
    rows.append(("idle, no model", f"CPU, % of one core ({idle['seconds']:.0f} s)", cpu, ""))
    rows.append(("idle, no model", "resident memory (MB)", f"{idle['rss_mb']:.1f}", ""))
    rss_model = f"{stages['sidecar_rss_mb_with_tiny_model']:.1f}"
    rows.append(("tiny model loaded", "resident memory (MB)", rss_model, ""))
    generation = report["generation"]
    if generation.get("skipped"):
        rows.append(("generation", "naive / ours", "skipped", ""))
    else:
        ours = f"naive / ours in {generation.get('ours_dtype', 'float32')} (s per request)"
        rows.append(("generation", ours, f"{generation['speedup']:.2f}×", ""))
        if "speedup_same_dtype" in generation:
            same = f"{generation['speedup_same_dtype']:.2f}×"
            rows.append(("generation", "naive / ours, both in float32", same, ""))
        floor = f"{generation['ours_vs_bandwidth_floor']:.1f}×"
        rows.append(("generation", "ours / memory-bandwidth floor", floor, ""))
    return rows


def print_table(report: dict[str, Any]) -> None:
    print(f"llmstep-lsp benchmark — {headline(report)}")
    print(f"{'section':<18} {'metric':<46} {'p50 / value':>12} {'p95':>9}")
    for section, metric, p50, p95 in table_rows(report):
        print(f"{section:<18} {metric:<46} {p50:>12} {p95:>9}")
    stages = report["stages"]
    print(f"{stages['mean_verified_suggestions']:.1f} verified suggestions per request on average")


def markdown_table(report: dict[str, Any]) -> str:
    """The README's table for a run (`--markdown RESULT.json`)."""
    lines = [
        f"Measured {report['machine'].get('date', 'at an unknown date')}: {headline(report)}.",
        "",
        "| section | metric | p50 / value | p95 |",
        "| --- | --- | ---: | ---: |",
    ]
    lines += [f"| {section} | {metric} | {p50} | {p95} |" for section, metric, p50, p95 in table_rows(report)]
    return "\n".join(lines)


async def run_suite(args: argparse.Namespace, workdir: Path) -> dict[str, Any]:
    workload = build_workload(workdir, load_cases(args.states))
    report: dict[str, Any] = {
        "machine": machine(),
        "config": {
            "latency_ms": args.latency_ms,
            "rounds": args.rounds,
            "requests": args.requests,
            "idle_s": args.idle_s,
            "states": len(workload.cases),
            "quick": args.quick,
        },
    }
    report.update(await run_with_model(workload, args, workdir))
    report["idle"] = await measure_idle(workload, args, workdir)
    if args.skip_generation:
        report["generation"] = {"skipped": True}
    else:
        report["generation"] = run_generation(args.generation_rounds, workdir)
    report["machine"]["load_average_at_end"] = list(os.getloadavg())
    return report


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--latency-ms", type=int, default=100, help="fake Lean elaboration latency")
    parser.add_argument("--rounds", type=int, default=3, help="passes over the goal states")
    parser.add_argument("--requests", type=int, default=200, help="cached requests per kind (overhead)")
    parser.add_argument("--idle-s", type=float, default=10.0)
    parser.add_argument("--states", type=int, default=None, help="only the first N goal states")
    parser.add_argument("--generation-rounds", type=int, default=2)
    parser.add_argument("--skip-generation", action="store_true")
    parser.add_argument("--quick", action="store_true", help="smoke test: 1 round, 5 states, short idle")
    parser.add_argument("--json", type=Path, default=DEFAULT_JSON)
    parser.add_argument("--keep", action="store_true", help="keep the work directory (logs) and say where")
    parser.add_argument(
        "--markdown",
        type=Path,
        metavar="RESULT_JSON",
        help="print the README table of an earlier run, run nothing",
    )
    args = parser.parse_args()
    if args.markdown:
        print(markdown_table(json.loads(args.markdown.read_text())))
        return 0
    if not CASES.exists():
        print(
            f"bench/suite.py needs llmstep's runtime test cases at {CASES} (../shared/data beside the repo)"
        )
        return 2
    if args.quick:
        args.rounds, args.requests, args.idle_s = 1, 20, 2.0
        args.states = args.states or 5
        args.latency_ms = min(args.latency_ms, 20)
        args.generation_rounds = 1

    workdir = Path(tempfile.mkdtemp(prefix="llmstep-bench-"))
    report = asyncio.run(run_suite(args, workdir))
    print_table(report)
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n")
    print(f"JSON: {args.json}")
    if args.keep:
        print(f"work directory (sidecar logs): {workdir}")
    else:
        import shutil

        shutil.rmtree(workdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
