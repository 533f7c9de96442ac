"""Offline fine-tuning (`llmstep-lsp train`): the (goal, tactic) data (`proofsteps.py`), the training
loop (`loop.py`) and resumable checkpoints (`checkpoints.py`)."""
