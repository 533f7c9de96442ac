#!/usr/bin/env python3
"""A fake leanprover-community/repl speaking its JSON wire format, with scripted elaboration.

Run as ``python tests/fake_repl/repl.py --script SCRIPT.json [knobs]``; stdlib only.  Input and
output follow /work/shared/reference/lean-server-protocol.md §10 and §12.4: one JSON object per
input, terminated by a blank line; one pretty-printed JSON object per answer, followed by a blank
line.  Commands are "elaborated" by the fake Lean's pure elaborator (tests/fake_lean/elaborate.py,
same script format); tactics run on a proof state with the same script rules.  Like the real REPL
it handles one input at a time: a hanging tactic blocks every later input of the process.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from dataclasses import dataclass
from typing import Any, NoReturn

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "fake_lean"))
import elaborate as elab  # type: ignore[import-not-found,unused-ignore]

SEVERITY = {elab.ERROR: "error", elab.WARNING: "warning", elab.INFORMATION: "info"}


@dataclass(frozen=True)
class ProofState:
    goals: tuple[str, ...]
    sorry: bool = False  # error recovery or `sorry` was used on the way here


class FakeRepl:
    def __init__(self, args: argparse.Namespace, script: elab.Script) -> None:
        self.args = args
        self.script = script
        self.envs: list[str] = []  # env id -> the header it was started from
        self.states: list[ProofState] = []
        self.inputs = 0

    # -- I/O ------------------------------------------------------------------------------------
    def log(self, name: str, line: str) -> None:
        if self.args.state_dir:
            with open(os.path.join(self.args.state_dir, name), "a", encoding="utf-8") as f:
                f.write(line + "\n")

    def serve(self) -> None:
        self.log("starts.log", str(os.getpid()))
        while (raw := self.read_input()) is not None:
            self.inputs += 1
            self.log("received.jsonl", json.dumps({"pid": os.getpid(), "input": raw}, ensure_ascii=False))
            self.announce()
            if self.args.crash_after_inputs and self.inputs >= self.args.crash_after_inputs:
                self.die(f"fake repl: crash (--crash-after-inputs {self.args.crash_after_inputs})")
            answer = self.handle(raw)
            sys.stdout.write(json.dumps(answer, indent=2, ensure_ascii=False) + "\n\n")
            sys.stdout.flush()

    def announce(self) -> None:
        """With --announce PATH (a FIFO a test reads): one line `{"pid", "n"}` per input as it
        arrives, before it is handled. Skipped when nobody reads: never blocks, never fails."""
        if not self.args.announce:
            return
        line = json.dumps({"pid": os.getpid(), "n": self.inputs}) + "\n"  # < PIPE_BUF: one write
        try:
            fd = os.open(self.args.announce, os.O_WRONLY | os.O_NONBLOCK)
        except OSError:
            return  # no reader (ENXIO)
        try:
            os.write(fd, line.encode())
        except OSError:
            pass  # the reader's pipe is full, or it went away
        finally:
            os.close(fd)

    def read_input(self) -> str | None:
        """One input: lines up to a blank line (`#`/`--` lines skipped); None at EOF or empty input."""
        lines: list[str] = []
        for line in sys.stdin:
            if not line.strip():
                if lines:
                    break
                continue
            if line.lstrip().startswith(("#", "--")):
                continue
            lines.append(line)
        return "".join(lines) if lines else None

    def die(self, reason: str) -> NoReturn:
        sys.stderr.write(reason + "\n")
        sys.stderr.flush()
        os._exit(1)

    def pause(self, ms: int) -> None:
        if ms > 0:
            time.sleep(ms / 1000)

    def hang(self) -> NoReturn:
        while True:  # like a Lean tactic that never returns: the process stops answering
            time.sleep(3600)

    # -- inputs ---------------------------------------------------------------------------------
    def handle(self, raw: str) -> dict[str, Any]:
        try:
            data = json.loads(raw)
        except ValueError as err:
            return {"message": f"Could not parse JSON:\n{err}"}
        if isinstance(data, dict) and "tactic" in data and "proofState" in data:
            return self.tactic(str(data["tactic"]), data["proofState"])
        if isinstance(data, dict) and "cmd" in data:
            return self.command(str(data["cmd"]), data.get("env"))
        return {"message": f"Could not parse as a valid JSON command:\n{raw.strip()}"}

    def command(self, text: str, env: Any) -> dict[str, Any]:
        header = elab.header_of(text)
        if env is not None and (not isinstance(env, int) or not 0 <= env < len(self.envs)):
            return {"message": "Unknown environment."}
        # A fresh environment loads the imports (--header-ms); then every declaration of the
        # command is elaborated in order (--decl-ms each), after the per-input latency.
        cost = self.args.latency_ms + self.args.decl_ms * elab.declarations_from(text)
        if env is None and header:
            cost += self.args.header_ms
        result = elab.elaborate(text, self.script)
        if result.crash:
            self.die("fake repl: crash")
        self.pause(cost + result.delay_ms)
        if result.hang:
            self.hang()
        lines = text.split("\n")
        messages = [_message(d, lines) for d in result.diagnostics]
        if env is not None and header:
            messages.insert(
                0,
                _at(0, 0, "error", "invalid 'import' command, it must be used in the beginning of the file"),
            )
        sorries = []
        for block in result.blocks:
            for t in block.tactics:
                if t.text == "sorry" and t.before:
                    self.states.append(ProofState((t.before[0],)))
                    sorries.append(
                        {
                            "proofState": len(self.states) - 1,
                            "pos": {"line": t.line + 1, "column": t.start},
                            "goal": t.before[0],
                            "endPos": {"line": t.line + 1, "column": t.end},
                        }
                    )
        self.envs.append(header if env is None else self.envs[env])
        answer: dict[str, Any] = {}
        if sorries:
            answer["sorries"] = sorries
        if messages:
            answer["messages"] = messages
        answer["env"] = len(self.envs) - 1
        return answer

    def tactic(self, tactic: str, state_id: Any) -> dict[str, Any]:
        if not isinstance(state_id, int) or not 0 <= state_id < len(self.states):
            return {"message": "Unknown proof state."}
        state = self.states[state_id]
        tactic = tactic.strip()
        error = elab.tactic_parse_error(tactic, self.script) if tactic else "unexpected end of input"
        if error is not None:
            return {"message": f"Lean error:\n<input>:1:1: {error}"}
        if tactic in self.script.crash:
            self.die("fake repl: crash")
        if tactic in self.script.hang:
            self.hang()
        messages: list[dict[str, Any]] = []
        goals, sorry, delay = list(state.goals), state.sorry, 0
        if not goals:
            messages.append(_at(0, 0, "error", "no goals to be proved"))
            sorry = True
        elif tactic == "sorry":
            goals, sorry = goals[1:], True
        else:
            rule = self.script.rule(goals[0], tactic)
            if isinstance(rule, dict):
                delay = int(rule.get("delay_ms", 0))
                for key, severity in (("info", "info"), ("warning", "warning")):
                    if key in rule:
                        messages.append(_at(0, 0, severity, rule[key]))
            if rule is None or (isinstance(rule, dict) and "error" in rule):
                text = (
                    f"fake Lean: no rule for tactic '{tactic}' on this goal"
                    if rule is None
                    else rule["error"]
                )
                # The real REPL recovers from a failing tactic with `sorry`: no goals, an error message.
                messages.append(_at(0, 0, "error", text))
                goals, sorry = [], True
            else:
                new = rule if isinstance(rule, list) else rule.get("result", [])
                goals = list(new) + goals[1:]
        self.pause(self.args.latency_ms + delay)
        self.states.append(ProofState(tuple(goals), sorry))
        if sorry:
            status = "Incomplete: contains sorry"
        elif goals:
            status = "Incomplete: open goals remain"
        else:
            status = "Completed"
        answer: dict[str, Any] = {"proofStatus": status, "proofState": len(self.states) - 1}
        if messages:
            answer["messages"] = messages
        answer["goals"] = goals
        return answer


def _at(line: int, column: int, severity: str, data: str) -> dict[str, Any]:
    pos = {"line": line, "column": column}
    return {"severity": severity, "pos": pos, "endPos": dict(pos), "data": data}


def _message(diagnostic: dict[str, Any], lines: list[str]) -> dict[str, Any]:
    """An LSP-style diagnostic of the elaborator as a REPL message (1-based lines, code points)."""

    def pos(p: dict[str, int]) -> dict[str, int]:
        text = lines[p["line"]] if p["line"] < len(lines) else ""
        return {"line": p["line"] + 1, "column": elab.utf16_to_cp(text, p["character"])}

    full = diagnostic["fullRange"]
    return {
        "severity": SEVERITY[diagnostic["severity"]],
        "pos": pos(full["start"]),
        "endPos": pos(full["end"]),
        "data": diagnostic["message"],
    }


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description="Fake leanprover-community/repl for tests.")
    p.add_argument("--script", required=True, help="the fake Lean's JSON elaboration script")
    p.add_argument("--latency-ms", type=int, default=0, help="sleep per command and per tactic")
    p.add_argument("--header-ms", type=int, default=0, help="extra sleep for a command that loads imports")
    p.add_argument("--decl-ms", type=int, default=0, help="extra sleep per declaration in a command")
    p.add_argument("--state-dir", help="append starts.log (pid per start) and received.jsonl here")
    p.add_argument("--crash-after-inputs", type=int, default=0, help="exit 1 upon the N-th input")
    p.add_argument("--announce", help='write {"pid", "n"} per input, as it arrives, to this FIFO')
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    if args.state_dir:
        os.makedirs(args.state_dir, exist_ok=True)
    FakeRepl(args, elab.Script.load(args.script)).serve()


if __name__ == "__main__":
    main()
