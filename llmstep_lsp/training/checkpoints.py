"""Training checkpoints that a run can resume from, in the layout of Hugging Face's `Trainer`.

`checkpoint-N/` (N = optimiser steps done) holds the model and tokenizer (`save_pretrained`, so
`--model checkpoint-N` loads it like any model directory) and the training state beside them:
`optimizer.pt`, `scheduler.pt`, `rng_state.pth` (torch's generator, for dropout) and
`trainer_state.json` (the step, the epoch and where in it, the shuffle generator's state at the
epoch's start, and the losses so far). `train --resume` picks the newest complete one.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

STATE_FILE = "trainer_state.json"
_NAME = re.compile(r"checkpoint-(\d+)")


@dataclass
class Position:
    """Where training is: optimiser steps done in all, the epoch (0-based), the optimiser steps done
    in it, and the running loss sums of the epoch (per target token)."""

    step: int = 0
    epoch: int = 0
    step_in_epoch: int = 0
    epoch_loss_sum: float = 0.0
    epoch_tokens: int = 0


def save_checkpoint(
    path: Path,
    torch: Any,
    model: Any,
    tokenizer: Any,
    optimiser: Any,
    schedule: Any,
    position: Position,
    shuffle_state: Any,
    report: dict[str, Any],
) -> None:
    """Write a resumable checkpoint to `path` (created); `trainer_state.json` last, so a checkpoint
    without it is an interrupted write and never resumed from."""
    save_model(path, model, tokenizer)
    torch.save(optimiser.state_dict(), path / "optimizer.pt")
    torch.save(schedule.state_dict(), path / "scheduler.pt")
    torch.save({"torch": torch.get_rng_state(), "shuffle": shuffle_state}, path / "rng_state.pth")
    state = {"position": position.__dict__, "report": report}
    (path / STATE_FILE).write_text(json.dumps(state, indent=2) + "\n", encoding="utf-8")


def save_model(path: Path, model: Any, tokenizer: Any) -> None:
    """A directory any `from_pretrained` loads: the model and its tokenizer."""
    path.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(path)
    tokenizer.save_pretrained(path)


def latest_checkpoint(output: Path) -> Path | None:
    """The complete checkpoint with the most steps under `output`, or None."""
    found = (
        [
            (int(match[1]), child)
            for child in output.iterdir()
            if (match := _NAME.fullmatch(child.name)) and (child / STATE_FILE).is_file()
        ]
        if output.is_dir()
        else []
    )
    return max(found)[1] if found else None


def load_state(path: Path, torch: Any, optimiser: Any, schedule: Any) -> tuple[Position, Any, dict[str, Any]]:
    """Restore the optimiser, scheduler and torch's generator from checkpoint `path`; returns the
    position, the shuffle generator's state at the epoch's start and the report so far."""
    state = json.loads((path / STATE_FILE).read_text(encoding="utf-8"))
    optimiser.load_state_dict(torch.load(path / "optimizer.pt", weights_only=True))
    schedule.load_state_dict(torch.load(path / "scheduler.pt", weights_only=True))
    rng = torch.load(path / "rng_state.pth", weights_only=True)
    torch.set_rng_state(rng["torch"])
    return Position(**state["position"]), rng["shuffle"], state["report"]
