"""`llmstep-lsp train`: fine-tune a Hugging Face causal LM on proofsteps, in llmstep's format.

Each example is `[GOAL]{state}[PROOFSTEP]{tactic}<eos>`, rendered by the same `proofstep` prompt
format the server uses, so training and serving cannot disagree. As in llmstep's fine-tuning
script, the loss covers only the tactic and the EOS token (the prompt's labels are masked), so the
model learns to answer, not to repeat goals. The loop is plain torch: AdamW, linear warmup then
linear decay, optional gradient accumulation, gradient clipping. Checkpoints are
`save_pretrained` directories (model + tokenizer) that `--model DIR` loads directly.

torch and transformers are imported inside `train`, so the package imports without them.
"""

from __future__ import annotations

import json
import logging
import math
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, TextIO

from llmstep_lsp.generation.backends.hf_loading import choose_device
from llmstep_lsp.generation.backends.hub import hub_arguments
from llmstep_lsp.generation.base import INSTALL_MODEL_BACKEND, GenerationRequest, ModelUnavailable, first_line
from llmstep_lsp.generation.formats import FORMATS
from llmstep_lsp.training.checkpoints import (
    Position,
    latest_checkpoint,
    load_state,
    save_checkpoint,
    save_model,
)
from llmstep_lsp.training.proofsteps import ProofStep, load_proofsteps

log = logging.getLogger(__name__)

PROMPT_FORMAT = FORMATS["proofstep"]
IGNORE_INDEX = -100  # label value the loss skips (transformers' convention)
REPORT_FILE = "train_report.json"


@dataclass(frozen=True)
class TrainConfig:
    """`llmstep-lsp train`'s options (lengths in tokens; `learning_rate` peak of a linear schedule
    with warmup)."""

    model: str
    """Hugging Face id or local directory of the causal LM to start from."""
    data: Path
    output: Path
    valid: Path | None = None
    epochs: int = 3
    learning_rate: float = 1e-5
    batch_size: int = 8
    grad_accum: int = 1
    max_length: int = 1024
    """Examples longer than this many tokens (prompt + tactic + EOS) are skipped, not cut."""
    warmup_ratio: float = 0.03
    weight_decay: float = 0.0
    max_grad_norm: float = 1.0
    save_every: int = 0
    """Save `checkpoint-N` every N optimiser steps; 0 = at the end of each epoch but the last."""
    limit: int | None = None
    seed: int = 0
    device: str = "auto"
    dtype: str = "auto"
    quiet: bool = False
    resume: bool = False
    """Go on from the newest complete checkpoint in `output` (optimiser, scheduler, step)."""
    progress_every_s: float = 60.0
    """Off a terminal, a progress line (step, loss, steps/s, ETA) at least this often."""

    def problems(self) -> list[str]:
        """Every option out of range, as sentences naming the flag (empty when all are valid)."""
        checks = [
            (self.epochs >= 1, "--epochs must be ≥ 1"),
            (self.learning_rate > 0, "--lr must be > 0"),
            (self.batch_size >= 1, "--batch-size must be ≥ 1"),
            (self.grad_accum >= 1, "--grad-accum must be ≥ 1"),
            (self.max_length >= 2, "--max-length must be ≥ 2"),
            (0 <= self.warmup_ratio < 1, "--warmup-ratio must be in [0, 1)"),
            (self.save_every >= 0, "--save-every must be ≥ 0"),
            (self.progress_every_s >= 0, "--progress-every must be ≥ 0"),
            (self.limit is None or self.limit >= 1, "--limit must be ≥ 1"),
            (self.dtype in ("auto", "float32", "bfloat16"), "--dtype must be auto, float32 or bfloat16"),
        ]
        return [message for ok, message in checks if not ok]


@dataclass(frozen=True)
class Example:
    """One tokenised training example: prompt + tactic + EOS, labels masked on the prompt."""

    input_ids: list[int]
    labels: list[int]
    """IGNORE_INDEX on the prompt, the token ids on the tactic and EOS."""


@dataclass
class TrainReport:
    """What `train_report.json` records: data counts, per-step and per-epoch losses, checkpoints."""

    model: str
    output: str
    device: str
    dtype: str
    examples: int
    skipped: int
    """Training examples longer than max_length."""
    valid_skipped: int = 0
    """Validation examples longer than max_length."""
    steps: int = 0
    epoch_losses: list[float] = field(default_factory=list)
    """Mean training loss per epoch (per target token)."""
    valid_losses: list[float] = field(default_factory=list)
    """Validation loss before training, then after each epoch (empty without --valid)."""
    checkpoints: list[str] = field(default_factory=list)
    step_losses: list[float] = field(default_factory=list)
    """Training loss of each optimiser step (per target token)."""


class TrainingError(Exception):
    """Training cannot start or go on; the message says why and how to fix it."""


def prompt_of(state: str) -> str:
    """llmstep's training prompt for a goal state: `[GOAL]{state}[PROOFSTEP]` (the `proofstep` format)."""
    return PROMPT_FORMAT.render(GenerationRequest(goal=state))


def encode_example(tokenizer: Any, step: ProofStep, max_length: int) -> Example | None:
    """The example's token ids and labels, or None when it is longer than `max_length`.

    The whole text is tokenized at once and the prompt's length masked, as llmstep does; the
    prompt alone is tokenized exactly as the server tokenizes it (special tokens included).
    """
    prompt = prompt_of(step.state)
    prompt_length = len(tokenizer(prompt).input_ids)
    ids = list(tokenizer(prompt + step.tactic).input_ids)
    eos = tokenizer.eos_token_id
    if ids and ids[-1] == eos:  # tokenizers that append EOS themselves
        ids.pop()
    ids.append(eos)
    if len(ids) > max_length:
        return None
    return Example(ids, [IGNORE_INDEX] * prompt_length + ids[prompt_length:])


def training_dtype(torch: Any, device: str, wanted: str) -> str:
    """bfloat16 where the GPU supports it, else float32: float16 weights need a loss scaler to train."""
    if wanted != "auto":
        return wanted
    if device.startswith("cuda") and torch.cuda.is_bf16_supported():
        return "bfloat16"
    return "float32"


def lr_factor(step: int, warmup: int, total: int) -> float:
    """Linear warmup to the full rate over `warmup` steps, then linear decay to 0 at `total`."""
    if step < warmup:
        return (step + 1) / (warmup + 1)
    return max(0.0, (total - step) / max(1, total - warmup))


def train(config: TrainConfig, out: TextIO = sys.stdout) -> TrainReport:
    """Fine-tune, print progress and the loss per epoch to `out`, save checkpoints and the final
    model; with `config.resume`, go on from the newest checkpoint in `config.output` with its
    optimiser, scheduler, generator states and step. Raises `TrainingError` with the fix."""
    torch, transformers, tqdm = _import_backend()
    resume_from = latest_checkpoint(config.output) if config.resume else None
    if resume_from is None and config.output.exists() and any(config.output.iterdir()):
        raise TrainingError(
            f"output directory {config.output} is not empty and has no complete checkpoint to resume"
            if config.resume
            else f"output directory {config.output} is not empty; choose a new one, or pass --resume to"
            " go on from its last checkpoint"
        )
    steps = load_proofsteps(config.data)[: config.limit]
    valid_steps = load_proofsteps(config.valid)[: config.limit] if config.valid else []
    device = choose_device(torch, config.device)
    dtype = training_dtype(torch, device, config.dtype)
    tokenizer, model = _load(transformers, torch, str(resume_from or config.model), device, dtype)

    examples = [e for e in (encode_example(tokenizer, s, config.max_length) for s in steps) if e]
    valid = [e for e in (encode_example(tokenizer, s, config.max_length) for s in valid_steps) if e]
    if not examples:
        raise TrainingError(f"every example is longer than --max-length {config.max_length} tokens")
    report = TrainReport(
        config.model, str(config.output), device, dtype, len(examples), len(steps) - len(examples)
    )
    report.valid_skipped = len(valid_steps) - len(valid)
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    batches_per_epoch = math.ceil(len(examples) / config.batch_size)
    updates_per_epoch = math.ceil(batches_per_epoch / config.grad_accum)
    total = updates_per_epoch * config.epochs
    warmup = round(total * config.warmup_ratio)
    skipped = f"{report.skipped} training"
    if config.valid:
        skipped += f" and {report.valid_skipped} validation examples"
    print(
        f"training {config.model} on {len(examples)} examples ({skipped} skipped: longer than"
        f" {config.max_length} tokens) on {device} ({dtype}): {config.epochs} epochs × {updates_per_epoch}"
        " steps",
        file=out,
        flush=True,
    )

    optimiser = torch.optim.AdamW(
        model.parameters(), lr=config.learning_rate, weight_decay=config.weight_decay
    )
    schedule = torch.optim.lr_scheduler.LambdaLR(optimiser, lambda s: lr_factor(s, warmup, total))
    shuffle = torch.Generator().manual_seed(config.seed)
    position = Position()
    if resume_from is not None:
        position, shuffle_state, saved = load_state(resume_from, torch, optimiser, schedule)
        shuffle.set_state(shuffle_state)
        for name in ("steps", "epoch_losses", "valid_losses", "checkpoints", "step_losses"):
            setattr(report, name, saved[name])
        print(f"resuming from {resume_from} at step {position.step}/{total}", file=out, flush=True)
    else:
        torch.manual_seed(config.seed)
        if valid:
            report.valid_losses.append(_mean_loss(torch, model, valid, config.batch_size, pad_id, device))
    # A bar for people at a terminal; logs and pipes get a line at least every `progress_every_s`.
    terminal = sys.stderr.isatty()
    progress = tqdm(total=total, initial=position.step, unit="step", file=sys.stderr,
                    disable=config.quiet or not terminal)  # fmt: skip
    meter = _Meter(
        out, total, position.step, config.progress_every_s if not (terminal or config.quiet) else None
    )

    def checkpoint(shuffle_state: Any) -> None:
        path = config.output / f"checkpoint-{report.steps}"
        report.checkpoints.append(str(path))
        save_checkpoint(
            path, torch, model, tokenizer, optimiser, schedule, position, shuffle_state, asdict(report)
        )
        log.info("saved %s", path)

    try:
        for epoch in range(position.epoch, config.epochs):
            model.train()
            at_start = shuffle.get_state()
            order = torch.randperm(len(examples), generator=shuffle).tolist()
            batches = [order[i : i + config.batch_size] for i in range(0, len(order), config.batch_size)]
            groups = [batches[i : i + config.grad_accum] for i in range(0, len(batches), config.grad_accum)]
            for group in groups[position.step_in_epoch :]:
                loss_sum, token_count = 0.0, 0
                for batch in group:
                    inputs = _collate(torch, [examples[i] for i in batch], pad_id, device)
                    loss = model(**inputs).loss
                    (loss / len(group)).backward()
                    tokens = int((inputs["labels"][:, 1:] != IGNORE_INDEX).sum())
                    loss_sum, token_count = loss_sum + loss.item() * tokens, token_count + tokens
                torch.nn.utils.clip_grad_norm_(model.parameters(), config.max_grad_norm)
                optimiser.step()
                schedule.step()
                optimiser.zero_grad(set_to_none=True)
                position.step += 1
                position.step_in_epoch += 1
                position.epoch_loss_sum += loss_sum
                position.epoch_tokens += token_count
                report.steps = position.step
                report.step_losses.append(loss_sum / max(1, token_count))
                progress.update(1)
                progress.set_postfix(loss=f"{report.step_losses[-1]:.4f}", epoch=epoch + 1)
                meter.step(epoch, config.epochs, report.step_losses[-1])
                if config.save_every and report.steps % config.save_every == 0 and report.steps < total:
                    checkpoint(at_start)
            report.epoch_losses.append(position.epoch_loss_sum / max(1, position.epoch_tokens))
            line = f"epoch {epoch + 1}/{config.epochs}: train loss {report.epoch_losses[-1]:.4f}"
            if valid:
                report.valid_losses.append(_mean_loss(torch, model, valid, config.batch_size, pad_id, device))
                before = report.valid_losses[0]
                line += f", valid loss {report.valid_losses[-1]:.4f} (before training {before:.4f})"
            progress.write(line, file=out)
            out.flush()
            position = Position(step=position.step, epoch=epoch + 1)
            if not config.save_every and epoch < config.epochs - 1:
                checkpoint(shuffle.get_state())
    finally:
        progress.close()
    save_model(config.output, model, tokenizer)
    report_data = {"config": {k: str(v) if isinstance(v, Path) else v for k, v in asdict(config).items()}}
    report_data.update(asdict(report))
    (config.output / REPORT_FILE).write_text(json.dumps(report_data, indent=2) + "\n", encoding="utf-8")
    print(f"saved the fine-tuned model to {config.output} (use it with --model {config.output})", file=out)
    return report


class _Meter:
    """Progress lines for logs and pipes: step, loss, steps/s and ETA, at most every `every_s`
    seconds (None: never; a terminal has the bar instead)."""

    def __init__(self, out: TextIO, total: int, done: int, every_s: float | None) -> None:
        self.out, self.total, self.every_s, self.done = out, total, every_s, done
        self.started = self.last = time.monotonic()
        self.done_at_start = done

    def step(self, epoch: int, epochs: int, loss: float) -> None:
        """One optimiser step was taken; print a line when `every_s` has passed since the last."""
        self.done += 1
        now = time.monotonic()
        if self.every_s is None or now - self.last < self.every_s:
            return
        self.last = now
        rate = (self.done - self.done_at_start) / max(1e-9, now - self.started)
        eta_min = (self.total - self.done) / rate / 60
        print(
            f"step {self.done}/{self.total} (epoch {epoch + 1}/{epochs}): loss {loss:.4f},"
            f" {rate:.2f} steps/s, ETA {eta_min:.1f} min",
            file=self.out,
            flush=True,
        )


def _import_backend() -> tuple[Any, Any, Any]:
    try:
        import torch
        import transformers
        from tqdm import tqdm  # type: ignore[import-untyped]
    except ImportError as err:
        raise TrainingError(
            f"training needs the model backend ({err.name} is missing). Fix: {INSTALL_MODEL_BACKEND}"
        ) from err
    transformers.utils.logging.disable_progress_bar()  # type: ignore[no-untyped-call]
    return torch, transformers, tqdm


def _load(transformers: Any, torch: Any, name: str, device: str, dtype: str) -> tuple[Any, Any]:
    try:
        hub = hub_arguments(name)  # an uncached model with the hub unreachable fails at once
    except ModelUnavailable as err:
        raise TrainingError(str(err)) from err
    try:
        tokenizer = transformers.AutoTokenizer.from_pretrained(name, **hub)
        model = transformers.AutoModelForCausalLM.from_pretrained(name, dtype=getattr(torch, dtype), **hub)
        model.to(device)
    except Exception as err:  # OSError offline, ValueError not a causal LM, RuntimeError out of memory, …
        raise TrainingError(
            f"could not load '{name}' as a causal language model: {first_line(err)}. Fix: use a Hugging "
            "Face causal LM id (downloaded once, or `hf download NAME`) or a local model directory"
        ) from err
    if tokenizer.eos_token_id is None:
        # Without EOS the model never learns to stop, and the server samples to max_new_tokens.
        raise TrainingError(f"the tokenizer of '{name}' has no EOS token; llmstep's format needs one")
    return tokenizer, model


def _collate(torch: Any, batch: list[Example], pad_id: int, device: str) -> dict[str, Any]:
    """Right-padded tensors; padding is masked from attention and from the loss."""
    width = max(len(e.input_ids) for e in batch)
    input_ids = torch.full((len(batch), width), pad_id, dtype=torch.long)
    labels = torch.full((len(batch), width), IGNORE_INDEX, dtype=torch.long)
    attention = torch.zeros((len(batch), width), dtype=torch.long)
    for row, example in enumerate(batch):
        n = len(example.input_ids)
        input_ids[row, :n] = torch.tensor(example.input_ids)
        labels[row, :n] = torch.tensor(example.labels)
        attention[row, :n] = 1
    return {
        "input_ids": input_ids.to(device),
        "attention_mask": attention.to(device),
        "labels": labels.to(device),
    }


def _mean_loss(
    torch: Any, model: Any, examples: list[Example], batch_size: int, pad_id: int, device: str
) -> float:
    """Loss per target token over `examples`, without dropout."""
    model.eval()
    loss_sum, token_count = 0.0, 0
    with torch.no_grad():
        for i in range(0, len(examples), batch_size):
            inputs = _collate(torch, examples[i : i + batch_size], pad_id, device)
            tokens = int((inputs["labels"][:, 1:] != IGNORE_INDEX).sum())
            loss_sum += model(**inputs).loss.item() * tokens
            token_count += tokens
    model.train()
    return loss_sum / max(1, token_count)
