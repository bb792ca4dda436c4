"""Sampling from a Picochat model: KV-cached, batched, seeded, streaming.

One decode loop (`stream_batch`) serves everything: `generate_ids` / `generate_batch`
(eval: many prompts at once), `stream_text` (chat and generate print tokens as they
arrive), `generate_text` (base models, raw text) and `chat_reply` (through the chat
template). Each step feeds one token per row into a preallocated `KVCache`.

Per step, the next-token logits go through, in this order: repetition penalty ->
greedy argmax when temperature == 0, else temperature -> top-k -> top-p -> a draw
from a `torch.Generator` seeded by `seed` (same seed, same sample). The logit
transforms are pure functions, tested on crafted logits.

Batches of prompts of different lengths are left-padded (see `picochat.model.
transformer`); a padded row computes what it would alone, so batched greedy output
equals one-by-one greedy output. Stop tokens (`<|end|>`, `<|eos|>` by default) end a
row and are not returned.

Context policy (the model cannot see more than `context_size` tokens, and rotary
positions beyond it were never trained):
- A prompt is cut from the LEFT to its last `context_size - max_new_tokens` tokens,
  but never below half the context (`context_size // 2`): a huge max_new_tokens does
  not erase the prompt. The most recent text is what a continuation depends on.
- Generation stops when the sequence fills the context (no sliding window). In a
  batch, all rows stop when the row with the longest prompt is full.
`fit_prompt` applies this and says how many tokens it cut, so callers can tell the user.

Not here: the chat template (`picochat.chat_format`), the CLI (`picochat.cli.chat`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Sequence
from typing import Any

import torch

from picochat.configs import SamplingConfig
from picochat.errors import ConfigError, InputError
from picochat.model.transformer import KVCache
from picochat.tokenizer.special import BOS, END_OF_TURN, EOS, PAD, ROLE_TOKENS, SPECIAL_TOKENS

DEFAULT_PAD_ID = SPECIAL_TOKENS.index(PAD)
# A text continuation (`generate`, /v1/completions) ends at the end of a turn or text.
TEXT_STOP_TOKENS = (END_OF_TURN, EOS)
# A chat reply also ends at any token that opens another turn or document: a base model
# knows no turns and can write <|system|> mid-reply, and none of them belongs in a reply.
REPLY_STOP_TOKENS = (*TEXT_STOP_TOKENS, BOS, *ROLE_TOKENS.values())
DEFAULT_STOP_IDS = tuple(SPECIAL_TOKENS.index(t) for t in TEXT_STOP_TOKENS)
DEFAULT_REPLY_STOP_IDS = tuple(SPECIAL_TOKENS.index(t) for t in REPLY_STOP_TOKENS)


# ---- sampling settings -------------------------------------------------------------


def sampling_config(**overrides: Any) -> SamplingConfig:
    """`SamplingConfig` defaults (the CLI's) with `overrides`, validated."""
    names = {f.name for f in dataclasses.fields(SamplingConfig)}
    unknown = sorted(set(overrides) - names)
    if unknown:
        raise ConfigError(
            f"Unknown sampling option(s): {', '.join(unknown)}.",
            fix=f"Use: {', '.join(sorted(names))}.",
        )
    config = dataclasses.replace(SamplingConfig(), **overrides)
    if config.temperature < 0:
        raise ConfigError(f"temperature must be >= 0, got {config.temperature}.", fix="0 = greedy.")
    if config.top_k is not None and config.top_k < 1:
        raise ConfigError(
            f"top_k must be >= 1, got {config.top_k}.", fix="Leave it unset to disable."
        )
    if config.top_p is not None and not 0 < config.top_p <= 1:
        raise ConfigError(f"top_p must be in (0, 1], got {config.top_p}.", fix="Try 0.9.")
    if config.repetition_penalty <= 0:
        raise ConfigError(
            f"repetition_penalty must be > 0, got {config.repetition_penalty}.", fix="1.0 = off."
        )
    if config.max_new_tokens < 0:
        raise ConfigError(
            f"max_new_tokens must be >= 0, got {config.max_new_tokens}.", fix="Try 128."
        )
    return config


def sampling_options(config: Any) -> dict[str, Any]:
    """The `SamplingConfig` fields of a stage config (e.g. `ChatConfig`) as keyword args."""
    return {f.name: getattr(config, f.name) for f in dataclasses.fields(SamplingConfig)}


# ---- logit transforms (pure functions on [B, V] logits) ----------------------------


def apply_repetition_penalty(
    logits: torch.Tensor, seen: torch.Tensor, penalty: float
) -> torch.Tensor:
    """CTRL / Hugging Face rule: a token already in the text (`seen` [B, V] bool) has a
    positive logit divided by `penalty`, a negative one multiplied by it."""
    if penalty == 1.0:
        return logits
    penalised = torch.where(logits > 0, logits / penalty, logits * penalty)
    return torch.where(seen, penalised, logits)


def apply_top_k(logits: torch.Tensor, k: int) -> torch.Tensor:
    """Keep the k largest logits of each row; the rest become -inf."""
    if k >= logits.size(-1):
        return logits
    kth = torch.topk(logits, k, dim=-1).values[..., -1:]
    return logits.masked_fill(logits < kth, float("-inf"))


def apply_top_p(logits: torch.Tensor, p: float) -> torch.Tensor:
    """Nucleus: keep the smallest set of most likely tokens whose probability sum >= p."""
    if p >= 1.0:
        return logits
    sorted_logits, order = torch.sort(logits, dim=-1, descending=True)
    probs = sorted_logits.softmax(dim=-1)
    mass_before = probs.cumsum(dim=-1) - probs
    drop_sorted = mass_before >= p  # the most likely token always stays (mass_before = 0)
    drop = drop_sorted.scatter(-1, order, drop_sorted)
    return logits.masked_fill(drop, float("-inf"))


def next_tokens(
    logits: torch.Tensor,
    config: SamplingConfig,
    seen: torch.Tensor | None = None,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """One token per row from next-token logits [B, V] (see module docstring for order)."""
    logits = logits.float()
    if seen is not None:
        logits = apply_repetition_penalty(logits, seen, config.repetition_penalty)
    if config.temperature == 0:
        return logits.argmax(dim=-1)
    logits = logits / config.temperature
    if config.top_k is not None:
        logits = apply_top_k(logits, config.top_k)
    if config.top_p is not None:
        logits = apply_top_p(logits, config.top_p)
    return torch.multinomial(logits.softmax(dim=-1), 1, generator=generator).squeeze(-1)


# ---- the decode loop ---------------------------------------------------------------


def fit_prompt(
    prompt_ids: Sequence[int], context_size: int, max_new_tokens: int
) -> tuple[list[int], int]:
    """Left-cut a prompt by the context policy -> (kept ids, number of ids cut)."""
    keep = max(context_size - max_new_tokens, min(len(prompt_ids), context_size // 2), 1)
    kept = list(prompt_ids[-keep:])
    return kept, len(prompt_ids) - len(kept)


def _fitted_prompts(
    prompts_ids: Sequence[Sequence[int]], context_size: int, max_new_tokens: int
) -> list[list[int]]:
    """Each prompt left-cut by `fit_prompt`; an InputError for an empty batch or prompt."""
    if not prompts_ids or any(len(p) == 0 for p in prompts_ids):
        raise InputError(
            "Every prompt needs at least one token.", fix="Start prompts with <|bos|>."
        )
    return [fit_prompt(p, context_size, max_new_tokens)[0] for p in prompts_ids]


def _left_padded(
    prompts: list[list[int]], width: int, pad_id: int, device: torch.device
) -> torch.Tensor:
    """[B, width] token buffer: each prompt right-aligned at the longest prompt's end,
    `pad_id` before it and in the slots the decode loop fills."""
    longest = max(len(p) for p in prompts)
    tokens = torch.full((len(prompts), width), pad_id, dtype=torch.long, device=device)
    for row, prompt in enumerate(prompts):
        tokens[row, longest - len(prompt) : longest] = torch.tensor(prompt, dtype=torch.long)
    return tokens


def _seen_tokens(prompts: list[list[int]], vocab_size: int, device: torch.device) -> torch.Tensor:
    """[B, vocab] booleans: the tokens each row has seen (for the repetition penalty)."""
    seen = torch.zeros(len(prompts), vocab_size, dtype=torch.bool, device=device)
    for row, prompt in enumerate(prompts):
        seen[row, prompt] = True
    return seen


def stream_batch(
    model: torch.nn.Module,
    prompts_ids: Sequence[Sequence[int]],
    *,
    stop_ids: Sequence[int] = DEFAULT_STOP_IDS,
    pad_id: int = DEFAULT_PAD_ID,
    use_cache: bool = True,
    **sampling: Any,
) -> Iterator[list[int | None]]:
    """Yield, per decode step, each row's new token (None once the row has stopped).

    A row stops after a stop token (yielded as None: stop tokens are not output).
    `use_cache=False` recomputes the whole sequence every step (the bench baseline).
    """
    config = sampling_config(**sampling)
    prompts = _fitted_prompts(prompts_ids, model.config.context_size, config.max_new_tokens)
    longest = max(len(p) for p in prompts)
    steps = min(config.max_new_tokens, model.config.context_size - longest)
    if steps <= 0:
        return
    device = next(model.parameters()).device
    batch = len(prompts)
    pads = [longest - len(p) for p in prompts]
    tokens = _left_padded(prompts, longest + steps, pad_id, device)
    penalised = config.repetition_penalty != 1.0
    seen = _seen_tokens(prompts, model.config.vocab_size, device) if penalised else None
    generator = None if config.seed is None else torch.Generator(device).manual_seed(config.seed)
    stop = torch.tensor(sorted(set(stop_ids)), dtype=torch.long, device=device)
    finished = torch.zeros(batch, dtype=torch.bool, device=device)

    def make_cache(length: int) -> KVCache:
        dtype = next(model.parameters()).dtype
        return KVCache(model.config, batch, length, pad_lengths=pads, device=device, dtype=dtype)

    was_training = model.training
    model.eval()
    try:
        with torch.inference_mode():
            cache = make_cache(longest + steps) if use_cache else None
            if cache is not None:  # prefill: the whole prompt in one forward
                logits, _ = model(tokens[:, :longest], cache=cache, last_logits_only=True)
            for step in range(steps):
                end = longest + step
                if cache is None:  # no reuse: every step recomputes the whole sequence
                    logits, _ = model(tokens[:, :end], cache=make_cache(end), last_logits_only=True)
                elif step > 0:
                    logits, _ = model(tokens[:, end - 1 : end], cache=cache, last_logits_only=True)
                new = next_tokens(logits[:, -1], config, seen, generator)
                now_stopping = torch.isin(new, stop) & ~finished
                new = torch.where(finished, pad_id, new)
                tokens[:, end] = new
                if seen is not None:
                    seen[torch.arange(batch, device=device), new] |= ~finished
                out = torch.where(finished | now_stopping, -1, new).tolist()
                finished |= now_stopping
                yield [t if t >= 0 else None for t in out]
                if bool(finished.all()):
                    return
    finally:
        model.train(was_training)


def generate_ids(
    model: torch.nn.Module, prompts_ids: Sequence[Sequence[int]], **options: Any
) -> list[list[int]]:
    """New token ids for each prompt (prompt and stop token not included); `options` are
    those of `stream_batch` (stop_ids, pad_id, use_cache and the sampling settings)."""
    outputs: list[list[int]] = [[] for _ in prompts_ids]
    for step in stream_batch(model, prompts_ids, **options):
        for row, token in enumerate(step):
            if token is not None:
                outputs[row].append(token)
    return outputs


def stop_ids_for(tokenizer: Any, *, reply: bool = False) -> tuple[int, ...]:
    """Ids in `tokenizer` of the tokens that end a text (`reply=True`: a chat reply).

    The fixed special ids where the tokenizer has no lookup.
    """
    fallback = DEFAULT_REPLY_STOP_IDS if reply else DEFAULT_STOP_IDS
    lookup = getattr(tokenizer, "token_to_id", None)
    if lookup is None:
        return fallback
    tokens = REPLY_STOP_TOKENS if reply else TEXT_STOP_TOKENS
    ids = tuple(i for i in map(lookup, tokens) if i is not None)
    return ids or fallback


def generate_batch(
    model: torch.nn.Module,
    *args: Any,
    max_new_tokens: int = 128,
    stop_ids: Sequence[int] | None = None,
    temperature: float = 0.0,
    **sampling: Any,
) -> list[list[int]]:
    """Batched chat replies for eval: greedy unless told otherwise. Two call forms:

    generate_batch(model, prompts_ids, max_new_tokens, stop_ids=...)
    generate_batch(model, tok, prompts_ids, max_new_tokens)  # stop/pad ids from tok
    """
    tokenizer = None
    if args and not isinstance(args[0], (list, tuple)):
        tokenizer, args = args[0], args[1:]
    if not args or len(args) > 2:
        raise TypeError("generate_batch(model, [tok,] prompts_ids[, max_new_tokens])")
    prompts_ids = args[0]
    if len(args) == 2:
        max_new_tokens = args[1]
    if stop_ids is None:
        stop_ids = stop_ids_for(tokenizer, reply=True)
    pad_id = getattr(tokenizer, "pad_id", None)
    return generate_ids(
        model,
        prompts_ids,
        stop_ids=stop_ids,
        pad_id=DEFAULT_PAD_ID if pad_id is None else pad_id,
        max_new_tokens=max_new_tokens,
        temperature=temperature,
        **sampling,
    )


# ---- text in, text out -------------------------------------------------------------


def stream_text(
    model: torch.nn.Module,
    tokenizer: Any,
    prompt_ids: Sequence[int],
    *,
    stop_ids: Sequence[int] | None = None,
    **sampling: Any,
) -> Iterator[str]:
    """Yield the reply text piece by piece as tokens arrive.

    Decodes the whole reply each step and yields what is new, holding back an
    incomplete UTF-8 character (a byte-level token can end mid-character).
    """
    stop_ids = stop_ids_for(tokenizer) if stop_ids is None else stop_ids
    reply: list[int] = []
    shown = ""
    for step in stream_batch(model, [prompt_ids], stop_ids=stop_ids, **sampling):
        if step[0] is None:
            break
        reply.append(step[0])
        text = tokenizer.decode(reply)
        if text.endswith("\ufffd"):
            continue
        yield text[len(shown) :]
        shown = text
    text = tokenizer.decode(reply)
    if len(text) > len(shown):
        yield text[len(shown) :]


def text_prompt_ids(tokenizer: Any, prompt: str) -> list[int]:
    """`<|bos|>` + the encoded text: how a document starts in pretraining."""
    bos = getattr(tokenizer, "bos_id", None)
    return ([] if bos is None else [bos]) + tokenizer.encode(prompt)


def generate_text(model: torch.nn.Module, tokenizer: Any, prompt: str, **sampling: Any) -> str:
    """Continue raw text (base models); returns the continuation only, stopping at
    `<|eos|>` (a base model's end of document) or `<|end|>`."""
    ids = text_prompt_ids(tokenizer, prompt)
    return "".join(stream_text(model, tokenizer, ids, **sampling))


def chat_reply(
    model: torch.nn.Module, tokenizer: Any, messages: list[dict[str, str]], **sampling: Any
) -> str:
    """The assistant's reply to `messages`, rendered through the one chat template."""
    from picochat.chat_format import render_prompt  # the tokenizer layer; loaded on use

    return "".join(stream_reply(model, tokenizer, render_prompt(tokenizer, messages), **sampling))


def stream_reply(
    model: torch.nn.Module, tokenizer: Any, prompt_ids: Sequence[int], **sampling: Any
) -> Iterator[str]:
    """`stream_text` of a chat reply: it also ends at any token that opens a turn."""
    stops = stop_ids_for(tokenizer, reply=True)
    return stream_text(model, tokenizer, prompt_ids, stop_ids=stops, **sampling)
