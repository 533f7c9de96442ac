"""Which generated texts may become suggestions: one tactic, nothing that proves by fiat or runs code.

Every candidate passes here before Lean sees it. A model must not be able to make the user's
machine run code through our verifier, so commands (`#eval`, `import`, `set_option … in`, …),
metaprogramming escapes and multi-line text are rejected outright, as are `sorry`/`admit` (they
"prove" anything) and text naming the theorem being proved (circular).
"""

from __future__ import annotations

import re

_FORBIDDEN_WORDS = frozenset({"sorry", "admit", "run_tac", "run_cmd", "run_elab", "run_meta", "unsafe", "IO"})
_COMMAND_START = re.compile(
    r"^(#\w+|import|open|set_option|namespace|section|end|theorem|lemma|def|example|instance|"
    r"macro|syntax|elab|initialize|attribute|variable|universe|@\[)\b"
)
# Anywhere, not only at the start: after a parse error Lean skips ahead to the next command
# keyword and runs *that* command, so `exact foo #eval …` would still evaluate. No tactic or
# term needs `#` before a letter (`#[…]` array literals stay allowed).
_COMMAND_ANYWHERE = re.compile(
    r"#[^\W\d]|(^|[\s;(])(import|initialize|builtin_initialize|def|instance|macro|macro_rules|syntax|"
    r"elab|elab_rules|attribute|namespace|section|theorem|lemma)\b"
)
_BRACKETS = {"(": ")", "[": "]", "{": "}", "⟨": "⟩"}


def rejection_reason(tactic: str, theorem_name: str | None = None) -> str | None:
    """Why `tactic` may not be suggested, or None when it is a single acceptable tactic."""
    if not tactic.strip():
        return "empty"
    if "\n" in tactic or "\r" in tactic:
        return "more than one line"
    if _COMMAND_START.match(tactic.strip()) or _COMMAND_ANYWHERE.search(tactic):
        return "a command, not a tactic"
    words = set(re.findall(r"[\w.'!?]+", tactic))
    parts = words | {part for word in words for part in word.split(".")}
    if bad := parts & _FORBIDDEN_WORDS:
        return f"uses {sorted(bad)[0]}"
    # unsafeBaseIO, unsafeIO, unsafeCast, …: the ways out of Lean's sandbox of pure functions.
    if unsafe := sorted(part for part in parts if part.startswith("unsafe")):
        return f"uses {unsafe[0]}"
    if theorem_name and (theorem_name in words or theorem_name.split(".")[-1] in words):
        return "names the theorem being proved"
    if not _balanced(tactic):
        return "unbalanced brackets"
    return None


def _balanced(text: str) -> bool:
    stack: list[str] = []
    closers = set(_BRACKETS.values())
    for ch in text:
        if ch in _BRACKETS:
            stack.append(_BRACKETS[ch])
        elif ch in closers and (not stack or stack.pop() != ch):
            return False
    return not stack
