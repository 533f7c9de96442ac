"""The VS Code extension's settings mirror the server's: same keys, same defaults.

The extension always sends every server setting (VS Code fills in its defaults), so a default that
drifts from `Settings` would silently change the server's behaviour in VS Code only.
"""

from __future__ import annotations

import dataclasses
import json
import re

from llmstep_lsp.settings import Settings
from tests.conftest import REPO

MANIFEST = json.loads((REPO / "vscode-extension" / "package.json").read_text())
PROPERTIES = MANIFEST["contributes"]["configuration"]["properties"]
EXTENSION_KEYS = re.search(
    r"SERVER_SETTING_KEYS = \[(.*?)\]", (REPO / "vscode-extension" / "src" / "settings.ts").read_text(), re.S
)


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)


def test_every_server_setting_has_a_vscode_setting_with_the_same_default() -> None:
    for field in dataclasses.fields(Settings):
        key = f"llmstep.{_camel(field.name)}"
        assert key in PROPERTIES, f"{key} is missing from vscode-extension/package.json"
        default = field.default_factory() if field.default is dataclasses.MISSING else field.default
        expected = list(default) if isinstance(default, tuple) else default
        if default is None:
            # "server default": null, or an empty string or list where the extension maps those to null
            assert PROPERTIES[key]["default"] in (None, "", []), key
            continue
        assert PROPERTIES[key]["default"] == expected, key


def test_the_extension_forwards_exactly_the_server_settings() -> None:
    assert EXTENSION_KEYS is not None
    forwarded = re.findall(r"'(\w+)'", EXTENSION_KEYS.group(1))
    assert sorted(forwarded) == sorted(_camel(f.name) for f in dataclasses.fields(Settings))


def test_extension_activates_for_lean4_and_starts_without_the_lean4_extension() -> None:
    assert "onLanguage:lean4" in MANIFEST["activationEvents"]
    assert "extensionDependencies" not in MANIFEST
    assert {"id": "lean4", "extensions": [".lean"]} in MANIFEST["contributes"]["languages"]
    commands = {c["command"] for c in MANIFEST["contributes"]["commands"]}
    assert commands == {"llmstep.suggestHere", "llmstep.restartServer", "llmstep.showLog"}
