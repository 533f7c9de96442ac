"""Command line: `serve` (the language server), `suggest` (the pipeline once, from a shell), `doctor`."""

from __future__ import annotations

import argparse
import asyncio
import ipaddress
import json
import logging
import shlex
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from llmstep_lsp.logs import configure_logging
from llmstep_lsp.protocol import Status

if TYPE_CHECKING:
    from llmstep_lsp.engine import SuggestionSet
from llmstep_lsp.settings import Settings

log = logging.getLogger(__name__)


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 2
    settings = _settings_from_args(args)
    if settings is None:
        return 2
    configure_logging(args.log_level or settings.log_level, args.log_file or settings.log_file)
    if args.command == "serve":
        return _serve(args, settings)
    if args.command == "suggest":
        return _suggest(args, settings)
    from llmstep_lsp.doctor import run_doctor

    return asyncio.run(run_doctor(settings, Path(args.path)))


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="llmstep-lsp", description=__doc__)
    sub = parser.add_subparsers(dest="command")

    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--settings", metavar="JSON", help="settings as a JSON object (keys as in the README)"
    )
    common.add_argument("--preset", help="model preset: llmstep, reprover, llemma, deepseek-prover, …")
    common.add_argument("--model", help="model id or local directory; '' for no model")
    common.add_argument("--endpoint", help="OpenAI-compatible endpoint for the openai backends")
    common.add_argument("--lean-command", help="command that starts the Lean server, e.g. 'lake serve'")
    common.add_argument("--project-root", help="Lean project root (default: found from the file)")
    common.add_argument("--log-level", help="DEBUG, INFO, WARNING, …")
    common.add_argument("--log-file", help="write logs here instead of stderr")

    serve = sub.add_parser("serve", parents=[common], help="run the language server (stdio by default)")
    serve.add_argument(
        "--stdio", action="store_true", help="use stdio (the default; accepted for LSP clients)"
    )
    serve.add_argument("--tcp", action="store_true", help="listen on TCP instead of stdio")
    serve.add_argument(
        "--host", default="127.0.0.1", help="TCP address (default 127.0.0.1, this machine only)"
    )
    serve.add_argument("--port", type=int, default=2087, help="TCP port (default 2087)")

    suggest = sub.add_parser("suggest", parents=[common], help="print verified suggestions at FILE:LINE:COL")
    suggest.add_argument("location", metavar="FILE:LINE:COL", help="1-based line and column, as editors show")
    suggest.add_argument("--prefix", help='tactic prefix, as in llmstep "exact" (replaces the line\'s text)')
    suggest.add_argument("--json", action="store_true", help="print JSON")
    suggest.add_argument("--num-samples", type=int)
    suggest.add_argument("--temperature", type=float)

    doctor = sub.add_parser("doctor", parents=[common], help="check Lean, the project and the model")
    doctor.add_argument("path", nargs="?", default=".", help="a Lean file or project directory")
    return parser


def _settings_from_args(args: argparse.Namespace) -> Settings | None:
    raw: dict[str, Any] = {}
    if args.settings:
        try:
            raw.update(json.loads(args.settings))
        except json.JSONDecodeError as err:
            print(f"llmstep-lsp: --settings is not valid JSON: {err}", file=sys.stderr)
            return None
    for name in ("preset", "model", "endpoint", "project_root", "num_samples", "temperature"):
        value = getattr(args, name, None)
        if value is not None:
            raw[name] = value
    if args.lean_command:
        raw["lean_command"] = shlex.split(args.lean_command)
    settings, problems = Settings.from_mapping(raw)
    for problem in problems:
        print(f"llmstep-lsp: {problem}", file=sys.stderr)
    if any(not p.endswith("(ignored)") for p in problems):
        return None
    return settings


def _serve(args: argparse.Namespace, settings: Settings) -> int:
    from llmstep_lsp.server import build_server

    server = build_server(settings)
    try:
        if args.tcp:
            if not _is_loopback(args.host):
                log.warning(
                    "listening on %s: anyone who can reach this address can drive Lean here", args.host
                )
            server.start_tcp(args.host, args.port)
        else:
            server.start_io()
    finally:
        server.engine.kill_all()
    return 0


def _is_loopback(host: str) -> bool:
    """Only this machine can reach `host` (127.0.0.0/8, ::1, localhost); unknown names count as not."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _suggest(args: argparse.Namespace, settings: Settings) -> int:
    from llmstep_lsp.proofpoint import split_lines

    try:
        path_text, line_text, column_text = args.location.rsplit(":", 2)
        line = int(line_text) - 1
        int(column_text)
    except ValueError:
        print(f"llmstep-lsp: expected FILE:LINE:COL, got {args.location!r}", file=sys.stderr)
        return 2
    path = Path(path_text).resolve()
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as err:
        print(f"llmstep-lsp: cannot read {path}: {err.strerror}", file=sys.stderr)
        return 2
    lines = split_lines(text)
    if not 0 <= line < len(lines):
        print(f"llmstep-lsp: {path} has {len(lines)} lines; line {line + 1} is out of range", file=sys.stderr)
        return 2
    if args.prefix is not None:
        current = lines[line]
        indent = current[: len(current) - len(current.lstrip())]
        lines[line] = (indent or "  ") + args.prefix
        text = "\n".join(lines)
    return asyncio.run(_suggest_once(settings, path.as_uri(), text, line, args.json))


async def _suggest_once(settings: Settings, uri: str, text: str, line: int, as_json: bool) -> int:
    from llmstep_lsp.engine import SuggestionEngine
    from llmstep_lsp.publish import suggestion_report, suggestion_title

    engine = SuggestionEngine(settings, _ConsoleChannel())
    try:
        await engine.document_opened(uri, text)
        result = await engine.suggest(uri, 1, text, line)
    finally:
        await engine.shutdown()
    if as_json:
        print(json.dumps(suggestion_report(result), ensure_ascii=False, indent=2))
    elif not result.suggestions:
        print(f"no suggestions: {result.note}")
    else:
        for suggestion in result.suggestions:
            print(suggestion_title(suggestion))
    return 0 if result.suggestions else 1


class _ConsoleChannel:
    """`suggest` shows messages on stderr and has no status bar."""

    def show(self, severity: str, message: str) -> None:
        print(f"{severity}: {message}", file=sys.stderr)

    def status(self, state: Status, message: str) -> None:
        log.debug("status %s %s", state.value, message)

    def suggestions_ready(self, result: SuggestionSet) -> None:
        pass  # `suggest` prints the result it awaited
