"""Measurements of `bench/generation.py` beside the timing loop: the machine's copy bandwidth (for the
floor a decode-bound sampler cannot beat) and how far a dtype moves a model's distributions from
float32's."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data" / "proofsteps"
TEMPERATURE = 0.5  # llmstep's


def copy_bandwidth_bytes_per_s() -> float:
    import torch

    source = torch.empty(64 * 1024 * 1024, dtype=torch.float32)
    target = torch.empty_like(source)
    target.copy_(source)
    best = float("inf")
    for _ in range(5):
        start = time.perf_counter()
        target.copy_(source)
        best = min(best, time.perf_counter() - start)
    return 2 * source.numel() * source.element_size() / best  # read + write


def dtype_agreement(model_dir: Path, dtype: str, limit: int = 300) -> dict[str, float]:
    """How far the model's next-token distributions move in `dtype` from float32, on the first
    `limit` (state, tactic) pairs of the shared miniF2F proofsteps (teacher-forced over the tactic
    and EOS): mean NLL a token in each, the share of positions with the same argmax, and the KL
    divergence a token at llmstep's sampling temperature."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    reference = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32).eval()
    other = AutoModelForCausalLM.from_pretrained(model_dir, dtype=getattr(torch, dtype)).eval()
    lines = (SHARED / "minif2f_test_verified_proofsteps.jsonl").read_text(encoding="utf-8").splitlines()
    nll = {"float32": 0.0, dtype: 0.0}
    positions = same_argmax = 0
    kl = 0.0
    with torch.inference_mode():
        for line in lines[:limit]:
            row = json.loads(line)
            prompt = tokenizer(f"[GOAL]{row['state']}[PROOFSTEP]").input_ids
            target = [*tokenizer(row["tactic"]).input_ids, tokenizer.eos_token_id]
            ids = torch.tensor([prompt + target])
            picked = torch.tensor(target)[:, None]
            both = {}
            for name, model in (("float32", reference), (dtype, other)):
                logits = model(input_ids=ids).logits[0, len(prompt) - 1 : -1].float()
                both[name] = logits
                nll[name] -= torch.log_softmax(logits, -1).gather(1, picked).sum().item()
            positions += len(target)
            same_argmax += int((both["float32"].argmax(-1) == both[dtype].argmax(-1)).sum())
            p = torch.log_softmax(both["float32"] / TEMPERATURE, -1)
            q = torch.log_softmax(both[dtype] / TEMPERATURE, -1)
            kl += float((p.exp() * (p - q)).sum())
    return {
        "tokens": positions,
        "nll_per_token_float32": nll["float32"] / positions,
        f"nll_per_token_{dtype}": nll[dtype] / positions,
        "same_argmax": same_argmax / positions,
        "kl_per_token_at_temperature": kl / positions,
    }


def profile(run: Any, loaded: Any, prompts: list[str], top: int = 12) -> dict[str, Any]:
    """Where a sampler's time goes: `run(loaded, prompt)` for each prompt under torch's profiler;
    the wall time, the ops' own CPU time (all threads' ops as torch records them) and the `top` ops
    by their own CPU time. What the ops do not cover is Python and the sampler's own bookkeeping."""
    from torch.profiler import ProfilerActivity
    from torch.profiler import profile as torch_profile

    start = time.perf_counter()
    with torch_profile(activities=[ProfilerActivity.CPU]) as recorded:
        for prompt in prompts:
            run(loaded, prompt)
    wall = time.perf_counter() - start
    events = list(recorded.key_averages())
    ops_s = sum(e.self_cpu_time_total for e in events) / 1e6
    ranked = sorted(events, key=lambda e: e.self_cpu_time_total, reverse=True)[:top]
    return {
        "requests": len(prompts),
        "wall_s": wall,
        "ops_self_cpu_s": ops_s,
        "outside_ops_share": max(0.0, 1 - ops_s / wall),
        "top_ops": [
            {"op": e.key, "self_cpu_s": e.self_cpu_time_total / 1e6, "calls": e.count} for e in ranked
        ],
        "note": "under torch's profiler (its overhead inflates small ops); shares, not absolute times",
    }
