"""A tiny real causal LM for tests: GPT-NeoX (Pythia's architecture), built, trained and saved here.

It is loaded by the product through the same `from_pretrained` path users take. A random model
never emits EOS, so the model is trained for a few hundred steps to memorise the proofsteps of
`lean/Examples.lean` (and a few wrong ones, which Lean must reject) in llmstep's format
`[GOAL]{goal}[PROOFSTEP]{tactic}<|endoftext|>`. The result is cached by content hash, so only
the first test session pays the ~20 s.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
SHARED_DATA = REPO.parent / "shared" / "data" / "proofsteps" / "minif2f_test_verified_proofsteps.jsonl"
NEEDS_SHARED_DATA = f"needs the public data in {SHARED_DATA.parent.parent} (../shared/data beside the repo)"
SCRIPT = REPO / "tests" / "fixtures" / "examples_script.json"
EOS = "<|endoftext|>"

# (goal, tactic) pairs the model learns; the last ones are wrong on purpose (Lean rejects them).
EXTRA_WRONG = [
    ("f : ℕ → ℕ\nh : Monotone f\nn : ℕ\n⊢ f n ≤ f (n + 1)", "exact h"),
    ("α : Type u_1\nr s t : Set α\nhrs : r ⊆ s\nhst : s ⊆ t\nx : α\nhxr : x ∈ r\n⊢ x ∈ t", "exact hst"),
]


def training_pairs() -> list[tuple[str, str]]:
    script = json.loads(SCRIPT.read_text(encoding="utf-8"))
    pairs = []
    for goal, rules in script["tactics"].items():
        if goal == "*":
            continue
        for tactic, outcome in rules.items():
            if isinstance(outcome, list) and tactic not in ("simp", "norm_num", "ring", "omega", "decide"):
                pairs.append((goal, tactic))
    return pairs + EXTRA_WRONG


def _cache_target(kind: str, pairs: list[tuple[str, str]], cache_root: Path | None) -> Path:
    """Where a model trained on `pairs` is kept (the name changes whenever the data does)."""
    digest = hashlib.sha256(json.dumps([kind, pairs], ensure_ascii=False).encode()).hexdigest()[:16]
    return (cache_root or cache_root_default()) / f"{kind}-{digest}"


def cache_root_default() -> Path:
    """Where test models are kept between sessions (outside the repo): `LLMSTEP_TEST_CACHE`."""
    return Path(os.environ.get("LLMSTEP_TEST_CACHE", Path.home() / ".cache" / "llmstep-lsp-tests"))


def _save(model: Any, tokenizer: Any, target: Path) -> Path:
    """Save next to `target`, then rename: a concurrent test session never sees half a model."""
    tmp = target.with_name(target.name + f".tmp{os.getpid()}")
    model.save_pretrained(tmp)
    tokenizer.save_pretrained(tmp)
    tmp.rename(target)
    return target


def build_tiny_model(cache_root: Path | None = None) -> Path:
    pairs = training_pairs()
    target = _cache_target("tiny-pythia-v2", pairs, cache_root)
    if (target / "config.json").exists():
        return target
    import torch
    from tokenizers import ByteLevelBPETokenizer
    from transformers import GPTNeoXConfig, GPTNeoXForCausalLM, PreTrainedTokenizerFast

    torch.manual_seed(0)
    texts = [f"[GOAL]{g}[PROOFSTEP]{t}" for g, t in pairs]
    corpus = list(texts)
    if SHARED_DATA.exists():
        for line in SHARED_DATA.read_text(encoding="utf-8").splitlines()[:300]:
            row = json.loads(line)
            corpus.append(f"[GOAL]{row['state']}[PROOFSTEP]{row['tactic']}")
    bpe = ByteLevelBPETokenizer()
    bpe.train_from_iterator(corpus, vocab_size=800, special_tokens=[EOS])
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=bpe._tokenizer, eos_token=EOS, pad_token=EOS)
    config = GPTNeoXConfig(
        vocab_size=len(tokenizer),
        hidden_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        intermediate_size=256,
        max_position_embeddings=512,
        bos_token_id=tokenizer.eos_token_id,
        eos_token_id=tokenizer.eos_token_id,
    )
    model = GPTNeoXForCausalLM(config)
    encoded = [tokenizer(t + EOS)["input_ids"] for t in texts]
    width = max(len(ids) for ids in encoded)
    input_ids = torch.full((len(encoded), width), tokenizer.eos_token_id)
    labels = torch.full((len(encoded), width), -100)
    for row, ids in enumerate(encoded):
        input_ids[row, : len(ids)] = torch.tensor(ids)
        labels[row, : len(ids)] = torch.tensor(ids)
    attention = (labels != -100).long()
    optimiser = torch.optim.AdamW(model.parameters(), lr=3e-3)
    model.train()
    for _step in range(400):
        loss = model(input_ids=input_ids, attention_mask=attention, labels=labels).loss
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
        if loss.item() < 0.02:
            break
    return _save(model, tokenizer, target)


def build_tiny_seq2seq(cache_root: Path | None = None) -> Path:
    """ReProver's architecture in miniature: a byte-level T5 (ByT5 tokenizer, no vocabulary file),
    trained to map goal states to tactics of `lean/Examples.lean`."""
    # A few short pairs: every byte is a token, so long goals make training slow.
    wanted = {"intro hrs hst x hxr", "intro h n", "induction n", "push_neg"}
    pairs = [(g, t) for g, t in training_pairs() if t in wanted]
    target = _cache_target("tiny-byt5-v4", pairs, cache_root)
    if (target / "config.json").exists():
        return target
    import torch
    from transformers import ByT5Tokenizer, T5Config, T5ForConditionalGeneration

    torch.manual_seed(0)
    tokenizer = ByT5Tokenizer()
    config = T5Config(
        vocab_size=384,
        d_model=128,
        d_ff=256,
        num_layers=2,
        num_heads=4,
        d_kv=32,
        decoder_start_token_id=0,
        pad_token_id=0,
        eos_token_id=1,
        dropout_rate=0.0,
    )
    model = T5ForConditionalGeneration(config)
    inputs = tokenizer([g for g, _ in pairs], return_tensors="pt", padding=True)
    labels = tokenizer([t for _, t in pairs], return_tensors="pt", padding=True).input_ids
    labels[labels == tokenizer.pad_token_id] = -100
    optimiser = torch.optim.AdamW(model.parameters(), lr=2e-3)
    model.train()
    for _step in range(800):
        loss = model(**inputs, labels=labels).loss
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
        if loss.item() < 0.005:
            break
    return _save(model, tokenizer, target)
