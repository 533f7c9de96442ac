"""`llmstep-lsp train` on the command line: its options and the run (the loop is `training`).

torch and transformers are imported only when the command runs, so `--help` is instant.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from llmstep_lsp.logs import configure_logging


def add_train_parser(sub: Any) -> None:
    """Add `train` and its options to the CLI's subcommands (an argparse subparsers object)."""
    train = sub.add_parser("train", help="fine-tune a causal LM on proofsteps (llmstep format)")
    train.add_argument("data", help='training data: {"state", "tactic"} JSONL or LeanDojo JSON')
    train.add_argument("--model", required=True, help="Hugging Face causal LM id or local directory")
    train.add_argument("--output", "-o", required=True, help="new directory for checkpoints and the model")
    train.add_argument("--valid", help="validation data (same formats); its loss is printed per epoch")
    train.add_argument("--epochs", type=int, default=3, help="passes over the data (default 3)")
    train.add_argument("--lr", type=float, default=1e-5, help="peak learning rate (default 1e-5)")
    train.add_argument("--batch-size", type=int, default=8, help="examples per forward pass (default 8)")
    train.add_argument("--grad-accum", type=int, default=1, help="batches per optimiser step")
    train.add_argument("--max-length", type=int, default=1024, help="longer examples are skipped")
    train.add_argument(
        "--warmup-ratio", type=float, default=0.03, help="share of the steps spent warming up (default 0.03)"
    )
    train.add_argument("--weight-decay", type=float, default=0.0, help="AdamW weight decay (default 0)")
    train.add_argument("--max-grad-norm", type=float, default=1.0, help="gradient clipping (default 1.0)")
    train.add_argument("--save-every", type=int, default=0, help="checkpoint every N steps (0: each epoch)")
    train.add_argument("--limit", type=int, help="use the first N examples (of each file)")
    train.add_argument("--seed", type=int, default=0, help="shuffling and initialisation seed (default 0)")
    train.add_argument("--device", default="auto", help="auto, cpu, cuda, mps")
    train.add_argument("--dtype", default="auto", help="auto, float32, bfloat16")
    train.add_argument("--quiet", action="store_true", help="no progress bar or progress lines")
    train.add_argument("--resume", action="store_true", help="go on from OUTPUT's newest checkpoint")
    train.add_argument(
        "--progress-every", type=float, default=60.0, help="seconds between progress lines off a terminal"
    )
    train.add_argument("--log-level", help="DEBUG, INFO, WARNING, …")


def run_train(args: argparse.Namespace) -> int:
    """Run `train` with parsed arguments; the exit status (2: bad options, data or model)."""
    from llmstep_lsp.training.loop import TrainConfig, TrainingError, train
    from llmstep_lsp.training.proofsteps import DataError

    configure_logging(args.log_level or "WARNING", None)
    config = TrainConfig(
        model=args.model,
        data=Path(args.data),
        output=Path(args.output),
        valid=Path(args.valid) if args.valid else None,
        epochs=args.epochs,
        learning_rate=args.lr,
        batch_size=args.batch_size,
        grad_accum=args.grad_accum,
        max_length=args.max_length,
        warmup_ratio=args.warmup_ratio,
        weight_decay=args.weight_decay,
        max_grad_norm=args.max_grad_norm,
        save_every=args.save_every,
        limit=args.limit,
        seed=args.seed,
        device=args.device,
        dtype=args.dtype,
        quiet=args.quiet,
        resume=args.resume,
        progress_every_s=args.progress_every,
    )
    if problems := config.problems():
        for problem in problems:
            print(f"llmstep-lsp: {problem}", file=sys.stderr)
        return 2
    try:
        train(config)
    except (TrainingError, DataError) as err:
        print(f"llmstep-lsp: {err}", file=sys.stderr)
        return 2
    return 0
