"""The house keeps its shape (issue 19): one-way layers, short files, every public name documented.

Read from the sources with `ast`, so a change that breaks the shape fails here with the file named.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

from tests.conftest import REPO

PACKAGE = REPO / "llmstep_lsp"
MODULES = sorted(PACKAGE.rglob("*.py"))


def _name(path: Path) -> str:
    return ".".join(path.relative_to(REPO).with_suffix("").parts)


def _imports(path: Path, top_level_only: bool = False) -> Iterator[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    nodes = tree.body if top_level_only else list(ast.walk(tree))
    for node in nodes:
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            yield node.module


def _inside(path: Path, package: str) -> bool:
    return _name(path).startswith(f"llmstep_lsp.{package}.") or _name(path) == f"llmstep_lsp.{package}"


def test_only_the_lsp_layer_imports_pygls_or_the_lsp_layer() -> None:
    for path in MODULES:
        if _inside(path, "lsp") or _inside(path, "cli"):
            continue  # the CLI starts the server (and prints its reports)
        for module in _imports(path):
            assert not module.startswith("pygls"), f"{_name(path)} imports {module}"
            assert not module.startswith("llmstep_lsp.lsp"), f"{_name(path)} imports {module}"


def test_nothing_below_the_cli_imports_it() -> None:
    for path in MODULES:
        if _inside(path, "cli") or path.name == "__main__.py":
            continue
        for module in _imports(path):
            assert not module.startswith("llmstep_lsp.cli"), f"{_name(path)} imports {module}"


def test_the_pipeline_imports_no_torch_at_load_time() -> None:
    for path in MODULES:
        if not _inside(path, "pipeline"):
            continue
        for module in _imports(path, top_level_only=True):
            assert module.split(".")[0] not in {"torch", "transformers"}, f"{_name(path)} imports {module}"


def test_no_module_is_over_400_lines() -> None:
    long = {_name(p): n for p in MODULES if (n := len(p.read_text(encoding="utf-8").splitlines())) > 400}
    assert long == {}


def test_every_module_and_public_definition_has_a_docstring() -> None:
    missing = []
    for path in MODULES:
        tree = ast.parse(path.read_text(encoding="utf-8"))
        if not ast.get_docstring(tree) and path.name != "__main__.py":
            missing.append(_name(path))
        stack: list[tuple[ast.AST, str]] = [(tree, "")]
        while stack:
            node, prefix = stack.pop()
            for child in ast.iter_child_nodes(node):
                if isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
                    if child.name.startswith("_"):
                        continue
                    if not ast.get_docstring(child):
                        missing.append(f"{_name(path)}.{prefix}{child.name}")
                    if isinstance(child, ast.ClassDef):
                        stack.append((child, f"{prefix}{child.name}."))
    assert missing == []
