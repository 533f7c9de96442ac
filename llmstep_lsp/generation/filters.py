"""Which generated texts may become suggestions: a tactic sequence on one line, nothing that proves
by fiat, runs code, or leaves the `by` block.

Every candidate passes here before Lean sees it. A model must not be able to make the user's
machine run code through our verifier, and after a parse error Lean skips ahead to the next
command keyword and elaborates *that* command, so a command anywhere in the text would run: the
text is rejected if any Lean 4 command keyword stands at a token boundary, if it has an attribute
`@[…]`, `set_option … in` / `open … in`, a `#`-command, a line separator of any kind, a comment
opener/closer, or brackets that close more than they open (text that ends the `by` block). The
check runs on the NFKC form of the text, so full-width look-alikes (`＃ｅｖａｌ`) are caught too.
`sorry`, `admit`, `stop` and `sorryAx` (they "prove" anything) and text naming the theorem being
proved (circular) are rejected as well. Lean's verdict is the real check (see
`verification/soundness.py`); this filter decides what Lean may be shown at all.
"""

from __future__ import annotations

import re
import unicodedata

# Command keywords of Lean 4's grammar: `src/Lean/Parser/Command.lean` (declarations and their
# modifiers, `section`/`namespace`/`end`, `variable`, `universe`, `set_option`, `attribute`,
# `export`, `import`, `open`, `mutual`, `initialize`, `in`-commands, `include`/`omit`, doc
# commands), `src/Lean/Parser/Syntax.lean` and `src/Lean/Elab/Notation.lean` (syntax, macro,
# elab, notation and their rules), plus the Mathlib/Batteries/Aesop commands a Mathlib project
# has (`lemma`, `alias`, `irreducible_def`, `run_cmd`, …). `#…` commands are caught by their `#`.
_COMMAND_WORDS = """
    abbrev axiom class coinductive def definition example inductive instance opaque structure
    theorem lemma deriving private protected public meta noncomputable unsafe partial nonrec
    section namespace end with_weak_namespace variable universe set_option attribute export import
    open mutual initialize builtin_initialize include omit add_decl_doc register_tactic_tag
    tactic_extension recommended_spelling gen_injective_theorems% register_error_explanation
    init_quot docs_to_verso assert_not_exists assert_not_imported
    syntax macro macro_rules elab elab_rules notation infix infixl infixr prefix postfix
    declare_syntax_cat binder_predicate simproc simproc_decl dsimproc builtin_simproc
    register_option register_builtin_option register_simp_attr declare_simp_like_tactic
    grind_pattern unif_hint local scoped termination_by decreasing_by where
    run_cmd run_elab run_meta alias irreducible_def proof_wanted library_note suppress_compilation
    initialize_simps_projections declare_aesop_rule_sets add_aesop_rules
"""
COMMAND_KEYWORDS = frozenset(_COMMAND_WORDS.split())
"""Words that start (or modify) a command: never part of a tactic we offer."""

_IDENT_CHAR = r"[\w'!?.%]"
_KEYWORD_AT_BOUNDARY = re.compile(
    rf"(?<!{_IDENT_CHAR})(?:{'|'.join(sorted(map(re.escape, COMMAND_KEYWORDS), key=len, reverse=True))})"
    rf"(?!{_IDENT_CHAR})"
)
_HASH_COMMAND = re.compile(r"#[^\W\d]")  # `#eval`, `#exit`; `#[1, 2]` array literals stay allowed
_LINE_BREAKS = frozenset("\n\r\v\f\x1c\x1d\x1e\x85\u2028\u2029")
_FORBIDDEN_WORDS = frozenset(
    {"sorry", "admit", "stop", "sorryAx", "run_tac", "run_cmd", "run_elab", "run_meta", "unsafe", "IO"}
)
_BRACKETS = {"(": ")", "[": "]", "{": "}", "⟨": "⟩", "⦃": "⦄", "⟦": "⟧"}


# Markers of the prompt formats (formats.py) and models' special tokens: a model that echoes its
# prompt writes them; no tactic contains them, and each would cost a Lean check.
_PROMPT_MARKER = re.compile(
    r"\[/?(?:GOAL|PROOFSTEP|STATE|TAC|CTX)\]"
    r"|<\|(?:endoftext|im_start|im_end|im_sep|end_of_text|begin_of_text|eot_id|start_header_id)\|>"
)


def rejection_reason(tactic: str, theorem_name: str | None = None) -> str | None:
    """Why `tactic` may not be sent to Lean or suggested (a short rule name with the offending
    text), or None when it is an acceptable one-line tactic sequence."""
    if not tactic.strip():
        return "empty"
    if found := sorted(_LINE_BREAKS.intersection(tactic)):
        return f"line separator {found[0]!r}"
    if any(unicodedata.category(ch) == "Cc" and ch != "\t" for ch in tactic):
        return "control character"
    text = unicodedata.normalize("NFKC", tactic)
    if not text.strip() or any(ch in _LINE_BREAKS for ch in text):
        return "line separator (after NFKC)"
    if match := _HASH_COMMAND.search(text):
        return f"command {text[match.start() : match.end() + 8].split()[0]!r}"
    if "@[" in text:
        return "attribute @[…]"
    if "/-" in text or "-/" in text:
        return "block comment"
    if match := _PROMPT_MARKER.search(text):
        return f"prompt marker {match.group(0)!r}"
    if match := _KEYWORD_AT_BOUNDARY.search(text):
        word = match.group(0)
        if word in ("open", "set_option"):
            return f"command keyword {word!r} (`{word} … in` included)"
        return f"command keyword {word!r}"
    words = set(re.findall(r"[\w.'!?]+", text))
    parts = words | {part for word in words for part in word.split(".")}
    if bad := parts & _FORBIDDEN_WORDS:
        return f"uses {sorted(bad)[0]}"
    # unsafeBaseIO, unsafeIO, unsafeCast, sorryAx variants: ways out of Lean's sandbox or its logic.
    if unsafe := sorted(part for part in parts if part.startswith("unsafe") or "sorry" in part.lower()):
        return f"uses {unsafe[0]}"
    if theorem_name and (theorem_name in words or theorem_name.split(".")[-1] in words):
        return "names the theorem being proved"
    if not _balanced(text):
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
