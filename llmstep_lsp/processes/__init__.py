"""Child processes the sidecar starts (Lean, REPLs, a llama.cpp server): one way to spawn them under
a guardian so nothing outlives the sidecar (`children.py`), and restarts with back-off (`restarts.py`)."""
