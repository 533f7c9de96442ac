"""What moves held-out top-k: samples, temperature, ranking and dtype, on one set of drawn samples.

    python bench/quality_knobs.py [--samples 20] [--runs float32@0.5,float32@1.0,bfloat16@0.5]
                                  [--seeds 0,1] [--limit N] [--json out.json]

Needs what `bench/quality.py` needs (the test extra, `../shared/data`) and its fine-tuned model.
The defaults draw 6 × 84 × 20 samples: ≈ 32 min on two cores.

Runs after `bench/quality.py` (it takes that run's fine-tuned SmolLM2 and held-out split). For each
held-out state, run (dtype@temperature) and seed it draws `--samples` samples once with the product's
sampler (`sample_causal`, the proofstep prompt, cut-off samples dropped), then scores every
combination of the knobs below on those same samples, so that each difference comes from the knob
and not from another draw:
- samples: the first 10, 20, … of the drawn ones (the `numSamples` setting);
- ranking of the distinct tactics (after the product's filter and whitespace normalisation):
  `mean` (mean token log-prob, the product's order, `generation/ranking.merge_ranked`), `total`
  (sequence log-prob: short tactics first), `count` (how many samples drew it, ties by total);
- `+automation`: the ranked model tactics, then the model-free `automationTactics` list, which is
  the order of what the product sends to Lean.
Each knob's scores are averaged over the seeds; the spread between seeds is printed beside them (on
84 states one state is 1.2 points). The frequency baseline is fitted on the training theorems only,
as in `bench/quality.py`. Written: `bench/results/<date>-quality-knobs-<N>cpu.json` (or `--json`).
"""

from __future__ import annotations

import argparse
import collections
import datetime
import json
import os
import statistics
import sys
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

import quality  # noqa: E402

from llmstep_lsp.config.settings import Settings  # noqa: E402
from llmstep_lsp.evaluation.steps import (  # noqa: E402
    StateTactics,
    frequency_baseline,
    group_by_state,
    hit_at,
)
from llmstep_lsp.generation.backends.causal_sampler import sample_causal  # noqa: E402
from llmstep_lsp.generation.backends.hf_loading import LoadedModel, load_model  # noqa: E402
from llmstep_lsp.generation.base import GenerationRequest  # noqa: E402
from llmstep_lsp.generation.filters import rejection_reason  # noqa: E402
from llmstep_lsp.generation.formats import FORMATS  # noqa: E402
from llmstep_lsp.generation.ranking import normalise_tactic  # noqa: E402
from llmstep_lsp.training.proofsteps import load_proofsteps  # noqa: E402

KS = (1, 5, 10)
MAX_NEW_TOKENS = 128
Drawn = list[tuple[str, float, float]]  # (normalised tactic, mean log-prob, total log-prob) per sample


def draw(loaded: LoadedModel, state: StateTactics, n: int, temperature: float) -> Drawn:
    """`n` samples for `state` as the product draws them (proofstep prompt, end-of-line stop), each
    kept as its normalised tactic unless the product's filter rejects it."""
    form = FORMATS["proofstep"]
    request = GenerationRequest(goal=state.state, theorem_name=state.theorem)
    samples = sample_causal(
        loaded, form.render(request), n, temperature, MAX_NEW_TOKENS, form.stop, threading.Event()
    )
    kept: Drawn = []
    for text, mean, total in samples:
        tactic = form.tactic_from(text, request)
        if tactic and rejection_reason(tactic, state.theorem) is None:
            kept.append((normalise_tactic(tactic), mean, total))
    return kept


def ranked(samples: Drawn, how: str) -> list[str]:
    """The distinct tactics of `samples`, best first by `how` (mean, total or count); a text drawn
    more than once keeps its best log-probs, as `merge_ranked` keeps the best-scored duplicate."""
    best: dict[str, tuple[float, float]] = {}
    counts: collections.Counter[str] = collections.Counter()
    for tactic, mean, total in samples:
        counts[tactic] += 1
        old = best.get(tactic)
        best[tactic] = (max(mean, old[0]), max(total, old[1])) if old else (mean, total)
    keys = {
        "mean": lambda t: -best[t][0],
        "total": lambda t: -best[t][1],
        "count": lambda t: (-counts[t], -best[t][1]),
    }
    return sorted(best, key=keys[how])


def hits(lists: list[list[str]], states: list[StateTactics], k: int) -> float:
    """Percent of states whose first k suggestions hold an accepted tactic."""
    found = sum(hit_at(ranked_, s.accepted, k) for ranked_, s in zip(lists, states, strict=True))
    return 100 * found / max(1, len(states))


def with_fill(model: list[str], fill: list[str]) -> list[str]:
    """`model`'s tactics, then those of `fill` not among them."""
    return model + [t for t in fill if t not in model]


class HelpFormatter(argparse.RawDescriptionHelpFormatter, argparse.ArgumentDefaultsHelpFormatter):
    """The docstring as written, and each option's default."""


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=HelpFormatter)
    parser.add_argument("--samples", type=int, default=20, help="samples drawn per state and run")
    parser.add_argument("--runs", default="float32@0.5,float32@1.0,bfloat16@0.5", help="dtype@temperature, …")
    parser.add_argument("--seeds", default="0,1", help="torch seeds; each run draws once per seed")
    parser.add_argument("--limit", type=int, help="the first N held-out states only (a quick look)")
    parser.add_argument("--json", type=Path, help="default: bench/results/<date>-quality-knobs-<N>cpu.json")
    args = parser.parse_args()

    import torch

    defaults = quality.parser().parse_args([])
    train_file, held_out_file, split = quality.split_files(defaults.seed, defaults.held_out)
    model_dir = quality.cached_fine_tune(quality.base_model())
    if model_dir is None:
        raise SystemExit("bench/quality_knobs.py: run bench/quality.py first (no fine-tuned model here)")
    states = group_by_state(load_proofsteps(held_out_file))[: args.limit]
    baseline = list(frequency_baseline(group_by_state(load_proofsteps(train_file)), max(KS)))
    automation = [normalise_tactic(t) for t in Settings().automation_tactics]
    budgets = [n for n in range(10, args.samples + 1, 10)]
    runs: dict[str, list[float]] = collections.defaultdict(list)  # dtype -> temperatures
    for run in args.runs.split(","):
        dtype, _, temperature = run.partition("@")
        runs[dtype].append(float(temperature))
    seeds = [int(s) for s in args.seeds.split(",")]
    print(
        f"model {model_dir}; {len(states)} held-out states; baseline fitted on {train_file.name}", flush=True
    )

    rows: dict[str, dict[int, list[float]]] = collections.defaultdict(lambda: collections.defaultdict(list))
    distinct: dict[str, list[float]] = collections.defaultdict(list)
    seconds: dict[str, float] = {}
    for dtype, temperatures in runs.items():
        config = Settings(
            model=str(model_dir), backend="transformers", prompt_format="proofstep", dtype=dtype
        )
        generation = config.generation()
        assert generation is not None
        loaded = load_model(generation)
        for temperature in temperatures:
            for seed in seeds:
                torch.manual_seed(seed)
                loaded.recent_outputs.clear()
                started = time.perf_counter()
                drawn = [draw(loaded, s, args.samples, temperature) for s in states]
                seconds[f"{dtype} T={temperature} seed={seed}"] = time.perf_counter() - started
                for n in budgets:
                    first = [d[:n] for d in drawn]
                    distinct[f"{dtype} T={temperature} n={n}"].append(
                        statistics.mean(len({t for t, _, _ in d}) for d in first)
                    )
                    for how in ("mean", "total", "count"):
                        lists = [ranked(d, how) for d in first]
                        for name, final in (
                            (how, lists),
                            (f"{how}+automation", [with_fill(x, automation) for x in lists]),
                        ):
                            key = f"{dtype} T={temperature} n={n} {name}"
                            for k in KS:
                                rows[key][k].append(hits(final, states, k))
                label = f"{dtype} T={temperature} seed={seed}"
                print(f"  drew {label} in {seconds[label]:.0f} s", flush=True)
        del loaded

    base = {k: hits([baseline] * len(states), states, k) for k in KS}
    auto = {k: hits([automation] * len(states), states, k) for k in KS}
    print("\nbaseline (training theorems): " + " / ".join(f"{base[k]:.1f}" for k in KS) + " % top-1/5/10")
    print("automation list:              " + " / ".join(f"{auto[k]:.1f}" for k in KS))
    print(f"{'knobs':44} {'top-1':>13} {'top-5':>13} {'top-10':>13}  (mean ± spread over seeds)")
    table = []
    for key, by_k in rows.items():
        cells = {k: (statistics.mean(v), (max(v) - min(v)) / 2) for k, v in by_k.items()}
        table.append(
            {
                "knobs": key,
                **{f"top{k}": cells[k][0] for k in KS},
                **{f"top{k}_spread": cells[k][1] for k in KS},
            }
        )
        print(f"{key:44} " + " ".join(f"{cells[k][0]:6.1f} ± {cells[k][1]:4.1f}" for k in KS))
    best = max(table, key=lambda r: r["top5"])
    ratio = f"{best['top5'] / base[5]:.2f}× the baseline" if base[5] else "the baseline has no hit: n/a"
    print(f"\nbest top-5: {best['knobs']}: {best['top5']:.1f} % = {ratio}")
    result = {
        "date": datetime.date.today().isoformat(),
        "machine": f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f} at the end",
        "fine_tuned_model": model_dir.name,
        "split": split,
        "states": len(states),
        "samples_drawn": args.samples,
        "seeds": seeds,
        "baseline_tactics": baseline,
        **{f"baseline_top{k}": base[k] for k in KS},
        **{f"automation_top{k}": auto[k] for k in KS},
        "distinct_tactics_per_state": {k: statistics.mean(v) for k, v in distinct.items()},
        "draw_seconds": seconds,
        "table": table,
        "best_top5": best,
    }
    out = args.json or quality.RESULTS / f"{result['date']}-quality-knobs-{os.cpu_count()}cpu.json"
    out.write_text(json.dumps(result, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    print(f"written: {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
