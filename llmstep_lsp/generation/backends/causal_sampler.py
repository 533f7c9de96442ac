"""Causal sampling for llmstep-style next-tactic prompts: N samples that share one prompt encoding.

The prompt is encoded once and its KV cache shared by every sample; each step also checks guessed
next tokens (`guesses.py`), so a sample can advance several tokens a step; each sample stops on its
own at EOS or at a stop string (end of line), and finished samples leave the batch. Samples cut off
at `max_new_tokens` are dropped (they rank high on repetition loops; issue 16). Runs in a worker
thread; `cancel` stops it at the next step. torch is imported lazily.
"""

from __future__ import annotations

import inspect
import logging
import threading
from dataclasses import dataclass
from typing import Any

from llmstep_lsp.generation.backends.hf_loading import LoadedModel
from llmstep_lsp.generation.guesses import LONGEST_NGRAM, NgramGuesser

log = logging.getLogger(__name__)

Sample = tuple[str, float, float]
"""(continuation text, mean token log-prob, total token log-prob)."""


# Speculative steps: a forward pass checks each row's guessed continuation (`guesses.py`) along
# with its next token. Guessed positions are nearly free where a step costs what reading the
# weights costs, but not on a CPU, where a few rows' matrix products are already compute-bound;
# so a step feeds at most STEP_POSITIONS positions in all, (1 + guess) × rows. 12 was the fastest
# of 8/12/16/24 in bench/generation.py (see the README).
MAX_GUESS = 8
STEP_POSITIONS = 12


@dataclass
class _Row:
    """A batch row: the samples that share one token history, and its KV-cache row."""

    samples: list[int]
    history: list[int]  # prompt + generated tokens; the last (at first: the prompt) not in the cache
    text: str  # the generated text, where stop strings are looked for


@dataclass
class _Branch:
    """Samples of a row that leave its guess at the same point with the same token: a new row."""

    samples: list[int]
    new_tokens: list[int]  # the accepted part of the guess, then the token drawn instead
    text: str


def sample_causal(
    loaded: LoadedModel,
    prompt: str,
    n: int,
    temperature: float,
    max_new_tokens: int,
    stops: tuple[str, ...],
    cancel: threading.Event,
    step_positions: int = STEP_POSITIONS,
) -> list[Sample]:
    """N samples of a causal LM continuing `prompt` (`step_positions` = 1: no guesses).

    The prompt is run once. After that the batch holds one row per *distinct* token history:
    samples that drew the same tokens so far share a row (their next-token distribution is the
    same, so this is exact), a row splits when its samples draw different tokens (its KV cache
    row is copied), and a row leaves the batch when its samples stop at EOS or a stop string.

    Each step also feeds a guess of each row's next tokens, and each sample draws its token at
    every guessed position from the model's distribution there, going on to the next position
    only while its draws equal the guess. So every token is drawn given its true history, as with
    one token per step, in fewer forward passes. The cache keeps the positions of rejected
    guesses, masked out with `attention_mask` (positions come from `position_ids`), so rows can
    advance by different amounts in one step.
    """
    import torch

    model, tokenizer, device = loaded.model, loaded.tokenizer, loaded.device
    eos = tokenizer.eos_token_id
    padding_token = eos if eos is not None else 0
    pieces = _token_pieces(loaded)
    prompt_ids = list(tokenizer(prompt).input_ids)
    guesser = NgramGuesser(behind=loaded.recent_outputs.index)
    guesser.index(prompt_ids)
    tokens: list[list[int]] = [[] for _ in range(n)]
    logprobs: list[list[float]] = [[] for _ in range(n)]
    rows = [_Row(list(range(n)), list(prompt_ids), "")]
    unfed = len(prompt_ids)  # tokens of each row not in the cache yet: the whole prompt, then one
    seen = torch.ones((1, 0), dtype=torch.long, device=device)  # cache positions each row attends to
    cache = None
    parameters = inspect.signature(model.forward).parameters
    keeps_logits = "logits_to_keep" in parameters  # every current HF causal LM; skips prompt × vocab
    # Rows that advance unevenly (guesses, padding) need explicit positions.
    explicit_positions = "position_ids" in parameters
    # transformers 5.x renamed the KV-cache argument and output field `past_key_values` to `cache`
    # (the old name warns on every call and is removed in 5.40): use the name this model's forward has.
    cache_name = "cache" if "cache" in parameters else "past_key_values"
    with torch.inference_mode():
        while rows:
            if cancel.is_set():
                return []
            limit = min(MAX_GUESS, step_positions // len(rows) - 1) if explicit_positions else 0
            guesses = [guesser.guess(row.history, limit) for row in rows]
            checked = 1 + max(len(g) for g in guesses)  # positions drawn at: the last fed, the guesses
            width = unfed - 1 + checked
            if unfed > 1 and explicit_positions:
                width = few_shapes(width)  # trailing padding, masked out like rejected guesses
            inputs, fed, positions = [], [], []
            for row, guess in zip(rows, guesses, strict=True):
                padding = width - unfed - len(guess)
                inputs.append(row.history[len(row.history) - unfed :] + guess + [padding_token] * padding)
                fed.append([1] * (unfed + len(guess)) + [0] * padding)
                first = len(row.history) - unfed
                positions.append(list(range(first, first + width)))
            tail = width - unfed + 1  # from the last fed token on
            options: dict[str, Any] = {}
            if keeps_logits:
                options["logits_to_keep"] = tail
            if explicit_positions:
                options["position_ids"] = torch.tensor(positions, device=device)
            out = model(
                input_ids=torch.tensor(inputs, device=device),
                attention_mask=torch.cat((seen, torch.tensor(fed, device=device)), dim=1),
                use_cache=True,
                **{cache_name: cache},
                **options,
            )
            cache = getattr(out, cache_name)
            drawn, drawn_logprobs = _draw(
                torch, out.logits[:, -tail:][:, :checked], temperature, max(len(r.samples) for r in rows)
            )
            parents: list[int] = []
            next_rows: list[_Row] = []
            kept: list[list[int]] = []
            for index, (row, guess) in enumerate(zip(rows, guesses, strict=True)):
                branches = _walk(
                    row,
                    guess,
                    drawn[index],
                    drawn_logprobs[index],
                    tokens,
                    logprobs,
                    pieces,
                    eos,
                    stops,
                    max_new_tokens,
                )
                known = len(row.history)
                for number, branch in enumerate(branches):
                    # The last branch takes over the row's history list (the guesser's entries
                    # into it keep growing); the others copy it first.
                    history = row.history if number == len(branches) - 1 else row.history[:known]
                    history.extend(branch.new_tokens)
                    guesser.index(history, known)
                    next_rows.append(_Row(branch.samples, history, branch.text))
                    parents.append(index)
                    accepted = len(branch.new_tokens) - 1
                    kept.append([1] * (unfed + accepted) + [0] * (width - unfed - accepted))
            if not next_rows:
                break
            if parents != list(range(len(rows))):
                selected = torch.tensor(parents, device=device)
                cache.batch_select_indices(selected)
                seen = seen.index_select(0, selected)
            seen = torch.cat((seen, torch.tensor(kept, device=device)), dim=1)
            rows, unfed = next_rows, 1
    prompt_end = prompt_ids[-LONGEST_NGRAM:]  # so that later requests can guess their first tokens too
    for distinct in {tuple(t) for t in tokens}:
        loaded.recent_outputs.remember(prompt_end + list(distinct))
    # A sample cut off at the token limit is no tactic (a repetition loop has a high mean log-prob
    # and once ranked above the accepted answer): dropped.
    finished = [
        (toks, lps)
        for toks, lps in zip(tokens, logprobs, strict=True)
        if _finished(toks, pieces, eos, stops, max_new_tokens)
    ]
    log_cut_off(len(tokens) - len(finished), len(tokens), max_new_tokens)
    return [finish_sample(tokenizer, toks, lps, eos) for toks, lps in finished]


def _finished(
    tokens: list[int], pieces: list[str], eos: int | None, stops: tuple[str, ...], limit: int
) -> bool:
    """Whether a sample ended by itself (EOS, a stop string) rather than at the token limit."""
    if len(tokens) < limit or tokens[-1:] == [eos]:
        return True
    return _stops("".join(pieces[t] for t in tokens[:-1]), pieces[tokens[-1]], stops)


def log_cut_off(cut: int, drawn: int, max_new_tokens: int) -> None:
    """Log how many of `drawn` samples were dropped for reaching `max_new_tokens` unfinished."""
    if cut:
        log.info("dropped %d of %d samples cut off at maxNewTokens (%d)", cut, drawn, max_new_tokens)


def few_shapes(positions: int) -> int:
    """`positions` rounded up to a multiple of 16, or of a quarter of its octave (below 16 or n/4 more).

    On a CPU, bf16 matrix products are compiled and cached per shape (oneDNN: about 0.35 MB a
    shape, in two caches of up to 1024), so a prefill as long as each prompt would grow the
    process by every new prompt length; rounded, a session sees a few dozen shapes."""
    step = 1 << max(4, positions.bit_length() - 3)
    return -(-positions // step) * step


def _walk(
    row: _Row,
    guess: list[int],
    drawn: list[list[int]],
    drawn_logprobs: list[list[float]],
    tokens: list[list[int]],
    logprobs: list[list[float]],
    pieces: list[str],
    eos: int | None,
    stops: tuple[str, ...],
    max_new_tokens: int,
) -> list[_Branch]:
    """Walk the row's samples along its guess, recording their tokens; the new rows.

    `drawn[p][c]` is the token the row's c-th sample draws at guessed position p (the draws at
    different positions are independent, so each sample uses its own column everywhere)."""
    branches: list[_Branch] = []
    walking = list(enumerate(row.samples))
    text = row.text
    for position in range(len(guess) + 1):
        groups: dict[int, list[tuple[int, int]]] = {}
        for column, sample in walking:
            token = drawn[position][column]
            tokens[sample].append(token)
            logprobs[sample].append(drawn_logprobs[position][column])
            groups.setdefault(token, []).append((column, sample))
        walking = []
        for token, group in groups.items():
            piece = pieces[token]
            if token == eos or _stops(text, piece, stops) or len(tokens[group[0][1]]) >= max_new_tokens:
                continue  # these samples are done
            if position < len(guess) and token == guess[position]:
                walking = group
            else:
                branches.append(_Branch([s for _, s in group], [*guess[:position], token], text + piece))
        if not walking:
            break
        text += pieces[guess[position]]
    return branches


def _draw(
    torch: Any, logits: Any, temperature: float, k: int
) -> tuple[list[list[list[int]]], list[list[list[float]]]]:
    """`k` tokens for each row and position of `logits` (rows × positions × vocabulary), drawn with
    replacement (greedy: the best one k times), and their log-probs, brought to the host in one
    transfer (a sync per step, not per row or per sample)."""
    rows, positions, vocabulary = logits.shape
    flat = logits.float().reshape(rows * positions, vocabulary)
    if temperature > 0:
        step_logprobs = torch.log_softmax(flat / temperature, dim=-1)
        drawn = torch.multinomial(step_logprobs.exp(), k, replacement=True)
    else:
        step_logprobs = torch.log_softmax(flat, dim=-1)
        drawn = step_logprobs.argmax(dim=-1, keepdim=True).expand(-1, k)
    # Token ids are exact in float64, so ids and log-probs travel together.
    both = torch.stack((drawn.double(), step_logprobs.gather(1, drawn).double()))
    ids, lps = both.reshape(2, rows, positions, k).tolist()
    return [[[int(t) for t in draws] for draws in row] for row in ids], lps


def _stops(text: str, piece: str, stops: tuple[str, ...]) -> bool:
    """Whether appending `piece` to `text` completes a stop string. Only the new end is searched:
    `text` itself contains no stop (its row would have stopped), so any match ends in `piece`."""
    return any(stop and stop in text[max(0, len(text) - len(stop) + 1) :] + piece for stop in stops)


def _token_pieces(loaded: LoadedModel) -> list[str]:
    """Each token's text, decoded once per model (stop strings are checked on these pieces)."""
    if loaded.pieces is None:
        tokenizer = loaded.tokenizer
        # The model may have more logits than the tokenizer has tokens (Pythia pads to 50304).
        size = max(len(tokenizer), int(getattr(loaded.model.config, "vocab_size", 0) or 0))
        loaded.pieces = [_decode_piece(tokenizer, i) for i in range(size)]
    return loaded.pieces


def _decode_piece(tokenizer: Any, token: int) -> str:
    try:
        return str(tokenizer.decode([token]))
    except (IndexError, KeyError, ValueError, TypeError):
        return ""


def finish_sample(tokenizer: Any, tokens: list[int], logprobs: list[float], eos: int) -> Sample:
    """Decode a sample; its score is the mean log-prob including the stop token (stopping is a choice too)."""
    text_tokens = tokens[:-1] if tokens and tokens[-1] == eos else tokens
    text = tokenizer.decode(text_tokens, skip_special_tokens=True)
    return text, sum(logprobs) / max(1, len(logprobs)), sum(logprobs)
