"""Where a model's files come from, known before transformers is asked: a local path, the local
Hugging Face cache, or the hub, and whether the hub can be reached at all.

Without this, `from_pretrained` on an unreachable hub retries every request with back-off: about
49 s before failing for a model that is not cached, and about 2.5 min for one that is (it still
asks the hub for newer files), with some fifty warning lines. Here the cache is looked up on disk
(`huggingface_hub.try_to_load_from_cache`, no network), the hub is asked once with a short
timeout, and then:

- the hub answers: `from_pretrained` as usual (it may download);
- it does not, and the model is cached: `local_files_only=True`, so nothing waits on the network;
- it does not, and the model is not cached: `ModelUnavailable` at once, with the fix.

`HF_HUB_OFFLINE` (or `TRANSFORMERS_OFFLINE`) set means the hub is not asked at all.
"""

from __future__ import annotations

import logging
from pathlib import Path

import httpx

from llmstep_lsp.generation.backends.gguf import is_gguf
from llmstep_lsp.generation.base import ModelUnavailable

log = logging.getLogger(__name__)

HUB_TIMEOUT_S = 3.0
"""How long the one reachability request may take (connect and answer) before the hub counts as
unreachable; a refused connection or an unknown host answers at once."""

_CONFIG_FILE = "config.json"
"""Every transformers model repository has one; its presence in the cache stands for the model's."""


def hub_arguments(model: str, timeout_s: float = HUB_TIMEOUT_S) -> dict[str, bool]:
    """Extra `from_pretrained` keyword arguments for the `model` setting: `{}` for a local path,
    for offline mode and for a reachable hub; `{"local_files_only": True}` for a cached model while
    the hub cannot be reached. Blocks for at most `timeout_s` (the hub request): call it from a
    worker thread.

    Raises `ModelUnavailable` naming the fix (`hf download MODEL`, or a local `model`) when the
    model is not cached and the hub is unreachable or offline mode is set, and when `model` is
    neither an existing path nor a hub id."""
    from huggingface_hub import constants, try_to_load_from_cache

    if is_gguf(model) or Path(model).expanduser().exists():
        return {}
    try:
        cached = isinstance(try_to_load_from_cache(model, _CONFIG_FILE), str)
    except ValueError as err:  # HFValidationError: not a hub id either
        raise ModelUnavailable(
            f"there is no model directory or file at {Path(model).expanduser()}, and '{model}' is not "
            "a Hugging Face model id (namespace/name). Fix: set 'model' to an existing model "
            "directory or .gguf file, or to a hub id."
        ) from err
    where = f"the local Hugging Face cache ({constants.HF_HUB_CACHE})"
    fix = (
        f"Fix: run `hf download {model}` on this machine while it has network access, or set 'model' "
        "to a local model directory or .gguf file."
    )
    if constants.HF_HUB_OFFLINE:
        if cached:
            return {}
        raise ModelUnavailable(f"the model '{model}' is not in {where} and HF_HUB_OFFLINE is set. {fix}")
    problem = hub_unreachable(constants.ENDPOINT, timeout_s)
    if problem is None:
        return {}
    if cached:
        log.info("%s is cached and the hub is unreachable (%s): loading the cached files", model, problem)
        return {"local_files_only": True}
    raise ModelUnavailable(
        f"the model '{model}' is not in {where} and the hub cannot be reached ({problem}). {fix}"
    )


def hub_unreachable(endpoint: str, timeout_s: float = HUB_TIMEOUT_S) -> str | None:
    """None when `endpoint` answers an HTTP request (any status) within `timeout_s`, else why not.
    One request, no retries; proxies from the environment apply, as for the downloads."""
    try:
        httpx.head(endpoint, timeout=timeout_s)
    except httpx.HTTPError as err:
        return f"{endpoint}: {err or type(err).__name__}"
    return None
