"""The suggestion pipeline, free of pygls and torch: goal at the cursor -> candidates from every
source -> Lean verdicts -> ranked, immutable results (`engine.py`, `growth.py`, `results.py`),
proof search and whole proofs (`proof_modes.py`), and problems told to the user once (`health.py`).
It returns values to the LSP layer through the `UserChannel` it is given."""
