"""A GGUF file as `model` for the transformers backend (llama.cpp's format, e.g. a quantised
SmolLM2 or a converted fine-tune).

transformers reads a GGUF with `from_pretrained(directory, gguf_file=name)` and *dequantises* every
tensor into the dtype asked for (about 40 s for SmolLM2-135M on two busy cores): the weights then
take float32/bf16 memory and run at that precision. To run a GGUF quantised, and faster on a CPU,
serve it with the `llama.cpp` backend instead. Reading GGUF needs the `gguf` package (and
`accelerate`), both in the `model` extra.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

GGUF_SUFFIX = ".gguf"


def is_gguf(model: str) -> bool:
    """Whether the `model` setting names a GGUF file (by its suffix; it need not exist yet)."""
    return model.lower().endswith(GGUF_SUFFIX)


def pretrained_source(model: str) -> tuple[str, dict[str, str]]:
    """`from_pretrained`'s first argument and extra keyword arguments for the `model` setting:
    a hub id or a directory as it is; a `.gguf` file as its directory plus `gguf_file=`.

    Raises `ImportError` naming `gguf` when a GGUF is asked for and the package is missing (the
    caller turns it into the install fix), `FileNotFoundError` when the file does not exist."""
    if not is_gguf(model):
        return model, {}
    path = Path(model).expanduser()
    if not path.is_file():
        raise FileNotFoundError(f"no GGUF file at {path}")
    for package in ("gguf", "accelerate"):
        if importlib.util.find_spec(package) is None:
            raise ImportError(f"reading a GGUF file needs the {package} package", name=package)
    return str(path.parent), {"gguf_file": path.name}
