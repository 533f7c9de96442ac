"""The VS Code extension's settings mirror the server's: same keys, defaults, choices and bounds.

The extension always sends every server setting (VS Code fills in its defaults), so a default that
drifts from `Settings` would silently change the server's behaviour in VS Code only; a choice or
bound that drifts lets the Settings UI offer a value the server then refuses. Both sides are
compared through `Settings.model_json_schema()`, the server model's own JSON Schema.
"""

from __future__ import annotations

import json
import re
from typing import Any

from llmstep_lsp.config.settings import Settings
from llmstep_lsp.generation.formats import FORMATS
from tests.conftest import REPO

MANIFEST = json.loads((REPO / "vscode-extension" / "package.json").read_text())
PROPERTIES = MANIFEST["contributes"]["configuration"]["properties"]
EXTENSION_KEYS = re.search(
    r"SERVER_SETTING_KEYS = \[(.*?)\]", (REPO / "vscode-extension" / "src" / "settings.ts").read_text(), re.S
)


SCHEMA = Settings.model_json_schema(by_alias=True)["properties"]
DEFAULTS = Settings().model_dump(mode="json", by_alias=True)
# A prompt format is checked against the registry when generation settings resolve, not by type.
SCHEMA["promptFormat"]["enum"] = list(FORMATS)
BOUNDS = ("minimum", "exclusiveMinimum", "maximum", "exclusiveMaximum")


def _flat(schema: dict[str, Any]) -> dict[str, Any]:
    """One JSON Schema for `X | None` (pydantic writes anyOf [X, null]); the enum without null."""
    flat = {k: v for k, v in schema.items() if k != "anyOf"}
    for option in schema.get("anyOf", []):
        flat.update({k: v for k, v in option.items() if k != "type"})
    if "const" in flat:
        flat["enum"] = [flat.pop("const")]
    return flat


def test_every_server_setting_has_a_vscode_setting_with_the_same_default() -> None:
    for key in SCHEMA:
        prop = PROPERTIES.get(f"llmstep.{key}")
        assert prop is not None, f"llmstep.{key} is missing from vscode-extension/package.json"
        if DEFAULTS[key] is None:
            # "server default": null, or an empty string or list where the extension maps those to null
            assert prop["default"] in (None, "", []), key
            continue
        assert prop["default"] == DEFAULTS[key], key


def test_vscode_offers_exactly_the_choices_and_bounds_the_server_accepts() -> None:
    for key, schema in SCHEMA.items():
        server, vscode = _flat(schema), PROPERTIES[f"llmstep.{key}"]
        offered = [choice for choice in vscode.get("enum", []) if choice is not None]
        assert sorted(offered) == sorted(server.get("enum", [])), key
        for bound in BOUNDS:
            assert vscode.get(bound) == server.get(bound), f"{key}: {bound}"


def test_the_extension_forwards_exactly_the_server_settings() -> None:
    assert EXTENSION_KEYS is not None
    forwarded = re.findall(r"'(\w+)'", EXTENSION_KEYS.group(1))
    assert sorted(forwarded) == sorted(SCHEMA)


def test_extension_activates_for_lean4_and_starts_without_the_lean4_extension() -> None:
    assert "onLanguage:lean4" in MANIFEST["activationEvents"]
    assert "extensionDependencies" not in MANIFEST
    assert {"id": "lean4", "extensions": [".lean"]} in MANIFEST["contributes"]["languages"]
    commands = {c["command"] for c in MANIFEST["contributes"]["commands"]}
    assert commands == {"llmstep.suggestHere", "llmstep.restartServer", "llmstep.showLog"}


def test_the_extension_readme_documents_every_setting() -> None:
    readme = (REPO / "vscode-extension" / "README.md").read_text(encoding="utf-8")
    assert [key for key in PROPERTIES if f"`{key}`" not in readme] == []
