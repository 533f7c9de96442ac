"""bench/quality.py's theorem split: the same seed gives the same split, and no theorem is on both sides.

Cheap (no model, no training): the split decides what "held out" means for every quality figure.
"""

from __future__ import annotations

import importlib.util
import json
from types import ModuleType
from typing import Any

import pytest

from tests.conftest import REPO
from tests.support.tiny_model import NEEDS_SHARED_DATA, SHARED_DATA


def quality_module() -> ModuleType:
    spec = importlib.util.spec_from_file_location("bench_quality", REPO / "bench" / "quality.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def rows(theorems: int, per_theorem: int) -> list[dict[str, Any]]:
    return [
        {"state": f"⊢ goal {t}.{i}", "tactic": "simp", "full_name": f"thm_{t}"}
        for t in range(theorems)
        for i in range(per_theorem)
    ]


def theorems(side: list[dict[str, Any]]) -> set[str]:
    return {row["full_name"] for row in side}


def test_the_split_is_fixed_by_its_seed_and_keeps_theorems_whole() -> None:
    quality = quality_module()
    data = rows(40, 3)
    train, held_out = quality.split_by_theorem(data, 0, 0.2)
    assert quality.split_by_theorem(data, 0, 0.2) == (train, held_out)
    assert not theorems(train) & theorems(held_out)
    assert len(theorems(held_out)) == 8 and len(train) + len(held_out) == len(data)
    assert theorems(quality.split_by_theorem(data, 1, 0.2)[1]) != theorems(held_out)
    # The file's order does not choose the split: theorems are sorted before the shuffle.
    assert theorems(quality.split_by_theorem(data[::-1], 0, 0.2)[1]) == theorems(held_out)


def test_a_split_with_an_empty_side_is_refused() -> None:
    with pytest.raises(ValueError, match="empty"):
        quality_module().split_by_theorem(rows(3, 1), 0, 0.01)


@pytest.mark.skipif(not SHARED_DATA.exists(), reason=NEEDS_SHARED_DATA)
def test_the_shared_proofsteps_split_into_90_and_23_theorems() -> None:
    data = [json.loads(line) for line in SHARED_DATA.read_text(encoding="utf-8").splitlines() if line]
    train, held_out = quality_module().split_by_theorem(data, 0, 0.2)
    assert (len(theorems(train)), len(theorems(held_out))) == (90, 23)
    assert not theorems(train) & theorems(held_out)
