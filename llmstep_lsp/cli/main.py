"""Command line: `serve` (the language server), `suggest` (the pipeline once, from a shell), `prove`
(proof search from a shell), `doctor`, `train` (fine-tuning), `eval steps` (top-k next-tactic
accuracy) and `eval prove` (proving rate on a statements file)."""

from __future__ import annotations

import argparse
import asyncio
import importlib.metadata
import ipaddress
import json
import logging
import shlex
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from llmstep_lsp.cli.one_shot import run_eval_prove, run_prove, run_suggest
from llmstep_lsp.cli.train import add_train_parser, run_train
from llmstep_lsp.config.settings import Settings
from llmstep_lsp.logs import configure_logging

if TYPE_CHECKING:
    pass

log = logging.getLogger(__name__)


def main(argv: list[str] | None = None) -> int:
    """The `llmstep-lsp` entry point: parse `argv` (default `sys.argv[1:]`), run the command, return
    its exit code (0 ok, 1 no answer, 2 bad input or settings)."""
    parser = _parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 2
    if args.command == "train":
        return run_train(args)
    settings = _settings_from_args(args)
    if settings is None:
        return 2
    if args.command == "serve":
        configure_logging(args.log_level or settings.log_level, args.log_file or settings.log_file)
        return _serve(args, settings)
    # A one-shot command's own output is its report: the log adds errors only, unless asked.
    level = args.log_level or (settings.log_level if _asks_log_level(args.settings) else "ERROR")
    configure_logging(level, args.log_file or settings.log_file, shown_elsewhere=True)
    if args.command == "suggest":
        return run_suggest(args, settings)
    if args.command == "prove":
        return run_prove(args, settings)
    if args.command == "eval":
        return _eval(args, settings)
    from llmstep_lsp.cli.doctor import run_doctor

    return asyncio.run(run_doctor(settings, Path(args.path)))


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="llmstep-lsp", description=__doc__)
    parser.add_argument("--version", action="version", version=f"%(prog)s {_version()}")
    sub = parser.add_subparsers(dest="command")

    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--settings", metavar="JSON", help="settings as a JSON object (keys as in the README)"
    )
    common.add_argument("--preset", help="model preset: llmstep, reprover, llemma, deepseek-prover, …")
    common.add_argument("--model", help="model id or local directory; '' for no model")
    common.add_argument("--backend", help="transformers, openai, llama.cpp (runs a .gguf --model), …")
    common.add_argument("--endpoint", help="OpenAI-compatible endpoint for the openai backends")
    common.add_argument("--lean-command", help="command that starts the Lean server, e.g. 'lake serve'")
    common.add_argument("--project-root", help="Lean project root (default: found from the file)")
    common.add_argument(
        "--log-level", help="DEBUG, INFO, WARNING, … (default: INFO for serve, ERROR for the other commands)"
    )
    common.add_argument("--log-file", help="write logs here instead of stderr")

    sampling = argparse.ArgumentParser(add_help=False)
    sampling.add_argument(
        "--num-samples", type=int, help="samples drawn per request (numSamples; 0: no model)"
    )
    sampling.add_argument("--temperature", type=float, help="sampling temperature (0: greedy, one sample)")

    serve = sub.add_parser("serve", parents=[common], help="run the language server (stdio by default)")
    serve.add_argument(
        "--stdio", action="store_true", help="use stdio (the default; accepted for LSP clients)"
    )
    serve.add_argument("--tcp", action="store_true", help="listen on TCP instead of stdio")
    serve.add_argument(
        "--host", default="127.0.0.1", help="TCP address (default 127.0.0.1, this machine only)"
    )
    serve.add_argument("--port", type=int, default=2087, help="TCP port (default 2087)")

    suggest = sub.add_parser(
        "suggest", parents=[common, sampling], help="print verified suggestions at FILE:LINE:COL"
    )
    suggest.add_argument("location", metavar="FILE:LINE:COL", help="1-based line and column, as editors show")
    suggest.add_argument("--prefix", help='tactic prefix, as in llmstep "exact" (replaces the line\'s text)')
    suggest.add_argument("--json", action="store_true", help="print JSON")

    doctor = sub.add_parser("doctor", parents=[common], help="check Lean, the project and the model")
    doctor.add_argument("path", nargs="?", default=".", help="a Lean file or project directory")

    add_train_parser(sub)
    evaluate = sub.add_parser("eval", help="measure the generator on recorded data")
    eval_sub = evaluate.add_subparsers(dest="eval_command", required=True)
    steps = eval_sub.add_parser(
        "steps",
        parents=[common, sampling],
        help="top-k exact match on (state, tactic) pairs, next to a baseline",
    )
    steps.add_argument("data", help='{"state", "tactic"} JSONL or LeanDojo JSON')
    steps.add_argument("--k", default="1,5,10", help="comma-separated k values (default 1,5,10)")
    steps.add_argument("--limit", type=int, help="evaluate the first N states only")
    steps.add_argument("--json", action="store_true", help="print JSON")
    steps.add_argument("--seed", type=int, default=0, help="sampling seed for local models (default 0)")
    steps.add_argument(
        "--baseline-data",
        metavar="FILE",
        help="fit the frequency baseline on this file (the model's training data) instead of the scored one",
    )
    _add_proof_parsers(sub, eval_sub, common)
    return parser


def _add_proof_parsers(sub: Any, eval_sub: Any, common: argparse.ArgumentParser) -> None:
    """`prove` and `eval prove`."""
    search = argparse.ArgumentParser(add_help=False)
    search.add_argument("--samples", type=int, help="tactics sampled per expanded node (searchSamples)")
    search.add_argument("--iterations", type=int, help="most node expansions (searchIterations)")
    search.add_argument("--time-limit", type=float, help="seconds per search (searchTimeLimitS)")
    search.add_argument(
        "--whole", action="store_true", help="whole-proof mode: sample complete proofs instead of searching"
    )

    prove = sub.add_parser(
        "prove", parents=[common, search], help="search for a proof at FILE:LINE:COL (a sorry or open goal)"
    )
    prove.add_argument("location", metavar="FILE:LINE:COL", help="1-based line and column, as editors show")
    prove.add_argument("--json", action="store_true", help="print JSON")

    eval_prove = eval_sub.add_parser(
        "prove", parents=[common, search], help="proving rate and time per theorem on a statements file"
    )
    eval_prove.add_argument("statements", metavar="STATEMENTS.jsonl", help="miniF2F-style statements")
    eval_prove.add_argument("--project", required=True, help="the Lean project the statements need")
    eval_prove.add_argument(
        "--results",
        help="results file, appended to and resumed from (default: STATEMENTS.prove-results.jsonl here)",
    )
    eval_prove.add_argument("--limit", type=int, help="only the first N statements")


def _asks_log_level(settings_json: str | None) -> bool:
    """Whether --settings (a valid JSON object by now) sets `logLevel`, flat or under `llmstep`."""
    raw = json.loads(settings_json) if settings_json else {}
    nested = raw.get("llmstep")
    return any(isinstance(m, dict) and {"logLevel", "log_level"} & set(m) for m in (raw, nested))


def _settings_from_args(args: argparse.Namespace) -> Settings | None:
    try:
        given = json.loads(args.settings) if args.settings else {}
    except json.JSONDecodeError as err:
        print(f"llmstep-lsp: --settings is not valid JSON: {err}", file=sys.stderr)
        return None
    if not isinstance(given, dict):
        print("llmstep-lsp: --settings must be a JSON object", file=sys.stderr)
        return None
    # Flat, or under "llmstep" as editors nest it; the flags below apply on top either way.
    raw: dict[str, Any] = dict(given["llmstep"] if isinstance(given.get("llmstep"), dict) else given)
    for name in ("preset", "model", "backend", "endpoint", "project_root", "num_samples", "temperature"):
        value = getattr(args, name, None)
        if value is not None:
            raw[name] = value
    for flag, name in (
        ("samples", "search_samples"),
        ("iterations", "search_iterations"),
        ("time_limit", "search_time_limit_s"),
        ("project", "project_root"),
    ):
        value = getattr(args, flag, None)
        if value is not None:
            raw[name] = str(Path(value).resolve()) if flag == "project" else value
    if args.lean_command:
        raw["lean_command"] = shlex.split(args.lean_command)
    settings, problems = Settings.from_mapping(raw)
    for problem in problems:
        print(f"llmstep-lsp: {problem}", file=sys.stderr)
    if any(not p.endswith("(ignored)") for p in problems):
        return None
    return settings


def _eval(args: argparse.Namespace, settings: Settings) -> int:
    if args.eval_command == "prove":
        return run_eval_prove(args, settings)
    from llmstep_lsp.evaluation.steps import run_eval_steps

    baseline = Path(args.baseline_data) if args.baseline_data else None
    return run_eval_steps(
        settings, Path(args.data), args.k, args.limit, args.json, args.seed, baseline_data=baseline
    )


def _serve(args: argparse.Namespace, settings: Settings) -> int:
    from llmstep_lsp.lsp.lifecycle import serve_stdio
    from llmstep_lsp.lsp.server import build_server

    server = build_server(settings)
    server.lifecycle.install_signal_handlers()
    if not args.tcp:
        if sys.stdin.isatty():  # a person, not an editor: say what this is (stdout is the LSP pipe)
            print(
                "llmstep-lsp serve speaks LSP on stdin/stdout; your editor starts it (README: Editors)."
                " Try `llmstep-lsp doctor FILE.lean` or `llmstep-lsp suggest FILE:LINE:COL`. Ctrl+D ends.",
                file=sys.stderr,
            )
        serve_stdio(server, server.lifecycle)  # ends the process (lsp/lifecycle.py)
    if not _is_loopback(args.host):
        log.warning("listening on %s: anyone who can reach this address can drive Lean here", args.host)
    try:
        server.start_tcp(args.host, args.port)
    finally:
        server.engine.kill_all()
    return 0


def _version() -> str:
    """The installed distribution's version (an editable checkout says so too)."""
    try:
        return importlib.metadata.version("llmstep-lsp")
    except importlib.metadata.PackageNotFoundError:
        return "unknown (not installed; run from a checkout)"


def _is_loopback(host: str) -> bool:
    """Only this machine can reach `host` (127.0.0.0/8, ::1, localhost); unknown names count as not."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
