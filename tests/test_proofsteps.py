"""Reading proofstep data: JSONL and LeanDojo JSON accepted; anything else refused with its place."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from llmstep_lsp.training.proofsteps import DataError, ProofStep, load_proofsteps

LEANDOJO = [
    {
        "url": "https://github.com/leanprover-community/mathlib4",
        "commit": "abc",
        "file_path": "Mathlib/Logic/Basic.lean",
        "full_name": "not_not_intro",
        "start": [10, 1],
        "end": [12, 10],
        "traced_tactics": [
            {"tactic": "intro h", "annotated_tactic": ["intro h", []], "state_before": "a : Prop\n⊢ a → ¬¬a",
             "state_after": "a : Prop\nh : a\n⊢ ¬¬a"},
            {"tactic": "exact fun hn => hn h", "annotated_tactic": ["exact fun hn => hn h", []],
             "state_before": "a : Prop\nh : a\n⊢ ¬¬a", "state_after": "no goals"},
        ],
    },
    {"full_name": "no_tactics", "traced_tactics": []},
]  # fmt: skip


def test_leandojo_json_gives_every_traced_tactic(tmp_path: Path) -> None:
    path = tmp_path / "train.json"
    path.write_text(json.dumps(LEANDOJO, indent=2))
    assert load_proofsteps(path) == [
        ProofStep("a : Prop\n⊢ a → ¬¬a", "intro h", "not_not_intro"),
        ProofStep("a : Prop\nh : a\n⊢ ¬¬a", "exact fun hn => hn h", "not_not_intro"),
    ]


def test_jsonl_rows_keep_their_theorem_and_skip_blank_lines(tmp_path: Path) -> None:
    path = tmp_path / "steps.jsonl"
    path.write_text(
        json.dumps({"state": "⊢ 1 = 1", "tactic": "rfl", "full_name": "one"}) + "\n\n"
        + json.dumps({"state_before": "⊢ True", "tactic": "trivial"}) + "\n"
    )  # fmt: skip
    assert load_proofsteps(path) == [ProofStep("⊢ 1 = 1", "rfl", "one"), ProofStep("⊢ True", "trivial")]


@pytest.mark.parametrize(
    ("text", "where", "says"),
    [
        ('{"state": "⊢ True", "tactic": "trivial"}\n[1, 2\n', ":2:", "not valid JSON"),
        ('{"state": "⊢ True", "tactic": "trivial"}\n{"state": "⊢ True"}\n', ":2:", "'state' and 'tactic'"),
        ('{"state": "⊢ True", "tactic": "  "}\n', ":1:", "empty 'tactic'"),
        ('"just a string"\n', ":1:", "got str"),
        (
            '[{"full_name": "t", "traced_tactics": [{"tactic": "rfl"}]}]',
            ": theorem #0 (t), traced tactic #0",
            "'state_before'",
        ),
        ("[1, 2", ":1:", "not valid JSON"),
        ("\n\n", "", "no proofsteps found"),
    ],
)
def test_bad_data_names_the_place_and_what_was_expected(
    tmp_path: Path, text: str, where: str, says: str
) -> None:
    path = tmp_path / "data.jsonl"
    path.write_text(text)
    with pytest.raises(DataError) as caught:
        load_proofsteps(path)
    message = str(caught.value)
    assert f"{path}{where}" in message and says in message


def test_a_missing_file_is_a_data_error(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="cannot read"):
        load_proofsteps(tmp_path / "missing.jsonl")
