"""Configuration: the typed settings model (`settings.py`, every default written once) and the
model presets it resolves generation settings with (`presets.py`)."""
