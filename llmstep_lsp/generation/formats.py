"""Prompt formats as data: how a request becomes a prompt, and how output becomes one tactic.

Templates use the placeholders {goal}, {prefix}, {context}, {declaration} and {indent}; they are
substituted in one pass, so braces inside Lean code are safe. `line` formats ask the model to
continue the tactic after the typed prefix and stop at the first stop string; `proof` formats
(whole-proof models) answer with a complete proof, from which the next tactic is taken.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from llmstep_lsp.generation.base import GenerationRequest

_PLACEHOLDER = re.compile(r"\{(goal|prefix|context|declaration|indent)\}")
_CODE_BLOCK = re.compile(r"```(?:lean4?|)\s*\n(.*?)(?:```|$)", re.DOTALL)

_STATE_TACTIC_INTRO = """/- You are proving a theorem in Lean 4.
You are given the following information:
- The current proof state, inside [STATE]...[/STATE]

Your task is to generate the next tactic in the proof.
Put the next tactic inside [TAC]...[/TAC]
-/
"""
_CONTEXT_STATE_TACTIC_INTRO = """/- You are proving a theorem in Lean 4.
You are given the following information:
- The file contents up to the current tactic, inside [CTX]...[/CTX]
- The current proof state, inside [STATE]...[/STATE]

Your task is to generate the next tactic in the proof.
Put the next tactic inside [TAC]...[/TAC]
-/
"""
# Our own small examples (not from any benchmark's test split).
_FEW_SHOT_EXAMPLES = """Tactic state:
---
n : ℕ
⊢ n + 0 = n
---
Next tactic:
---
simp
---

Tactic state:
---
α : Type u_1
s t : Set α
h : s ⊆ t
x : α
hx : x ∈ s
⊢ x ∈ t
---
Next tactic:
---
exact h hx
---

Tactic state:
---
a b : ℝ
hab : a < b
⊢ a ≤ b
---
Next tactic:
---
linarith
---

"""


@dataclass(frozen=True)
class PromptFormat:
    """One prompt format (the `promptFormat` setting, or a preset's `template` and `stop`)."""

    name: str
    template: str
    """The prompt, with the placeholders above."""
    stop: tuple[str, ...] = ("\n",)
    """Where a `line` format's output ends (sent to the backend, and cut again here)."""
    chat: bool = False
    """Sent as a chat conversation (`system`, then the prompt as the user's message)."""
    system: str = ""
    output: Literal["line", "proof"] = "line"
    """"line": the output continues the tactic; "proof": it is a whole proof (`tactic_from`)."""

    @property
    def uses_context(self) -> bool:
        """The template asks for the file before the point (`{context}`): cut to the prompt budget."""
        return "{context}" in self.template

    def render(self, request: GenerationRequest, context: str | None = None) -> str:
        """The prompt; `context` is the file text already cut to the backend's budget."""
        values = {
            "goal": request.goal,
            "prefix": request.prefix,
            "context": request.context if context is None else context,
            "declaration": request.declaration,
            "indent": request.indent,
        }
        return _PLACEHOLDER.sub(lambda m: values[m[1]], self.template)

    def tactic_from(self, output: str, request: GenerationRequest) -> str | None:
        """The one tactic in a model's output (prefix included), or None."""
        if self.output == "proof":
            return next_tactic_in_proof(output, request)
        for stop in self.stop:
            output = output.split(stop, 1)[0]
        tactic = (request.prefix + output).strip()
        return tactic or None


CHARS_PER_TOKEN = 3  # Lean is symbol-dense; used where no tokenizer is at hand (HTTP backends)


def tail_at_line(text: str, max_chars: int) -> str:
    """The end of `text`, at most `max_chars` long, cut at a line start (the budget for file context)."""
    if len(text) <= max_chars:
        return text
    tail = text[-max_chars:]
    newline = tail.find("\n")
    return tail[newline + 1 :] if newline >= 0 else tail


def next_tactic_in_proof(output: str, request: GenerationRequest) -> str | None:
    """From a whole generated proof, the tactic that comes where the user's cursor is.

    The model was shown the declaration up to the suggestion line; in its code we find the proof
    after `by`, skip as many tactic lines as the user already wrote, and take the next one.
    """
    unwritten = unwritten_proof_lines(output, request.declaration)
    if not unwritten:
        return None
    tactic = unwritten[0].strip()
    return tactic if tactic.startswith(request.prefix) else None


def unwritten_proof_lines(output: str, declaration: str) -> list[str] | None:
    """The tactic lines (as written, indented) of the proof in a model's output — after `by`, in
    its last code block — past as many lines as `declaration` already has (None: no proof there)."""
    blocks = _CODE_BLOCK.findall(output)
    proof = _after_by(str(blocks[-1] if blocks else output).split("\n"))
    if proof is None:
        return None
    return proof[len(_after_by(declaration.split("\n")) or []) :]


def _after_by(lines: list[str]) -> list[str] | None:
    """The tactic lines after the first line that ends in `by` (None: no such line)."""
    start = next((i for i, line in enumerate(lines) if re.search(r"\bby\s*$", line)), None)
    if start is None:
        return None
    return [line for line in lines[start + 1 :] if line.strip() and not line.strip().startswith("--")]


FORMATS: dict[str, PromptFormat] = {
    f.name: f
    for f in (
        # llmstep (Pythia fine-tuned on LeanDojo Benchmark 4): continue after the typed prefix.
        PromptFormat("proofstep", "[GOAL]{goal}[PROOFSTEP]{prefix}"),
        # ReProver's tactic generator reads the state alone; the prefix is forced on the decoder.
        PromptFormat("state", "{goal}"),
        # LLEMMA / ntp-toolkit models, without and with the file before the cursor (miniCTX style).
        PromptFormat(
            "state-tactic",
            _STATE_TACTIC_INTRO + "[STATE]\n{goal}\n[/STATE]\n[TAC]\n{prefix}",
            ("[/TAC]", "\n"),
        ),
        PromptFormat(
            "context-state-tactic",
            _CONTEXT_STATE_TACTIC_INTRO
            + "[CTX]\n{context}\n[/CTX]\n[STATE]\n{goal}\n[/STATE]\n[TAC]\n{prefix}",
            ("[/TAC]", "\n"),
        ),
        # Any base model, through a few examples.
        PromptFormat(
            "few-shot",
            _FEW_SHOT_EXAMPLES + "Tactic state:\n---\n{goal}\n---\nNext tactic:\n---\n{prefix}",
            ("\n---", "\n"),
        ),
        # DeepSeek-Prover style completion: the file so far in a code block, continue the next line.
        PromptFormat(
            "lean4-code", "Complete the following Lean 4 code:\n\n```lean4\n{context}{indent}{prefix}"
        ),
        # Whole-proof chat models (Kimina-Prover, DeepSeek-Prover-V2): take the next tactic of the proof.
        PromptFormat(
            "chat-proof",
            "Complete the following Lean 4 proof. Reply with the complete proof in one ```lean4 code "
            "block.\n\n```lean4\n{declaration}\n```",
            stop=(),
            chat=True,
            system="You are an expert in mathematics and Lean 4.",
            output="proof",
        ),
    )
}
