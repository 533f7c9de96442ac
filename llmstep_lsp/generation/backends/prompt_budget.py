"""Cutting a prompt to a character budget without breaking lines: the file context first, then goals.

A 100 KB goal once became a 136,000-character prompt that no server took. What is cut, in order:
1. the file context (`{context}`), keeping its end (the text nearest the cursor), cut at a line start;
2. the goals after the first (the main goal is what the suggestion is for);
3. the main goal's first lines (hypotheses), keeping its end: the `⊢` target and the hypotheses
   nearest it, cut at a line start.
What remains over the budget after that (a template or a declaration longer than the budget) is sent
as it is: the server's refusal then says so.
"""

from __future__ import annotations

import dataclasses

from llmstep_lsp.generation.base import GenerationRequest
from llmstep_lsp.generation.formats import PromptFormat, tail_at_line


def fit_prompt(
    prompt_format: PromptFormat, request: GenerationRequest, context_chars: int, budget_chars: int
) -> str:
    """The rendered prompt, at most `budget_chars` characters where cutting context and goals can
    make it so; the file context is never longer than `context_chars` (the `contextTokens` budget)."""
    context = tail_at_line(request.context, max(0, context_chars))
    prompt = prompt_format.render(request, context)
    if len(prompt) <= budget_chars:
        return prompt
    if context:
        room = budget_chars - (len(prompt) - len(context))
        context = tail_at_line(context, room) if room > 0 else ""
        prompt = prompt_format.render(request, context)
        if len(prompt) <= budget_chars:
            return prompt
    room = budget_chars - (len(prompt) - len(request.goal))
    goal = cut_goals(request.goal, max(0, room))
    return prompt_format.render(dataclasses.replace(request, goal=goal), context)


def cut_goals(goal: str, max_chars: int) -> str:
    """Lean's goal list (blank-line separated) cut to `max_chars`: later goals dropped first, then
    the main goal's leading lines; never a partial line, and the `⊢` line survives while it fits."""
    if len(goal) <= max_chars:
        return goal
    goals = goal.split("\n\n")
    kept = goals[0]
    for other in goals[1:]:
        if len(kept) + 2 + len(other) > max_chars:
            break
        kept += "\n\n" + other
    return kept if len(kept) <= max_chars else tail_at_line(kept, max_chars)
