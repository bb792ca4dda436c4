"""Memorisation diagnostics after pretraining: canaries, copy rate, copied spans.

Not for: training or evaluation losses (`pretrain.py`), nor chat-level memorisation
(SFT has its own exact-answer check).

- **Canaries** (Carlini et al., "The Secret Sharer", 2019): random secret lines
  `<prefix> <secret>` inserted into the training text only. After training, greedy
  continuation of the prefix either reproduces the secret (hit) or not; **exposure** =
  log2(#candidates) - log2(rank), where rank is the position of the canary's likelihood
  among the same number of random secrets of the same format (rank 1 of 1,024 -> 10
  bits: the model prefers the real secret to every random one; ~1 bit: no preference).
- **Train copy rate**: share of word 8-grams of greedy continuations of prompts cut
  from the training text that occur verbatim in the training text; **held-out
  overlap**: the same n-grams looked up in the validation text (a model that
  generalises reproduces common phrases of both about equally); **copied spans**: the
  longest runs of copied 8-grams, quoted. Unconditional samples from `<|bos|>` alone
  would hide memorisation: training windows start at random places, so a model rarely
  learns to begin a text from nothing.
"""

from __future__ import annotations

import math
import string
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from picochat.errors import ConfigError
from picochat.generation import generate_ids
from picochat.training.memorization_verdict import risk_verdict as risk_verdict

NGRAM_WORDS = 8
SHORT_NGRAM_WORDS = 3  # the shorter view (memorization_verdict.short_ngram_excess)
EXPOSURE_CANDIDATES = 1023  # + the canary itself = 1,024 -> at most 10 bits
CANARY_PREFIX_CHARS = 8
CANARY_SECRET_CHARS = 10
MIN_ALPHABET = 8


@dataclass
class Canary:
    prefix: str
    separator: str
    secret: str

    @property
    def text(self) -> str:
        return f"{self.prefix}{self.separator}{self.secret}"


def _logits(model: nn.Module, idx: torch.Tensor) -> torch.Tensor:
    out = model(idx)
    return out[0] if isinstance(out, tuple) else out


def _encodes_cleanly(tokenizer: Any, text: str) -> bool:
    unk = tokenizer.token_to_id("<unk>")
    return unk is None or unk not in tokenizer.encode(text)


def make_canaries(count: int, train_text: str, tokenizer: Any, seed: int) -> list[Canary]:
    """`count` random canaries over lowercase letters/digits the tokenizer knows."""
    present = set(train_text)
    alphabet = [
        ch
        for ch in string.ascii_lowercase + string.digits
        if ch in present and _encodes_cleanly(tokenizer, ch)
    ]
    if len(alphabet) < MIN_ALPHABET:
        raise ConfigError(
            f"--canary-count needs at least {MIN_ALPHABET} lowercase letters or digits that "
            f"the corpus contains; it has {len(alphabet)}.",
            fix="Use --canary-count 0 for this corpus.",
        )
    separator = " " if " " in present and _encodes_cleanly(tokenizer, " ") else ""
    rng = np.random.default_rng([seed, 11])
    canaries = []
    for _ in range(count):
        prefix = "".join(rng.choice(alphabet, size=CANARY_PREFIX_CHARS))
        secret = "".join(rng.choice(alphabet, size=CANARY_SECRET_CHARS))
        canaries.append(Canary(prefix, separator, secret))
    return canaries


def canary_alphabet(canaries: list[Canary]) -> list[str]:
    return sorted({ch for c in canaries for ch in c.prefix + c.secret})


@torch.no_grad()
def sequence_logprobs(
    model: nn.Module, sequences: list[list[int]], *, device: torch.device, batch_size: int = 256
) -> list[float]:
    """Sum of log p(token_i | tokens_<i) over i >= 1, for each sequence."""
    scores: list[float] = []
    for start in range(0, len(sequences), batch_size):
        chunk = sequences[start : start + batch_size]
        width = max(len(s) for s in chunk)
        idx = torch.zeros((len(chunk), width), dtype=torch.long)
        mask = torch.zeros((len(chunk), width - 1), dtype=torch.bool)
        for row, seq in enumerate(chunk):
            idx[row, : len(seq)] = torch.tensor(seq)
            mask[row, : len(seq) - 1] = True
        idx = idx.to(device)
        logprobs = torch.log_softmax(_logits(model, idx[:, :-1]).float(), dim=-1)
        picked = logprobs.gather(-1, idx[:, 1:, None]).squeeze(-1).cpu()
        scores += (picked * mask).sum(dim=1).tolist()
    return scores


def probe_canaries(
    model: nn.Module,
    tokenizer: Any,
    canaries: list[Canary],
    *,
    device: torch.device,
    seed: int,
    candidates: int = EXPOSURE_CANDIDATES,
) -> list[dict[str, Any]]:
    """Hit/miss and exposure (bits) for each canary."""
    alphabet = canary_alphabet(canaries)
    rng = np.random.default_rng([seed, 13])
    results = []
    for canary in canaries:
        # Canaries sit at line starts, so the probe starts a line too.
        prompt = [tokenizer.bos_id, *tokenizer.encode("\n" + canary.prefix)]
        expected = canary.separator + canary.secret
        # ASCII letters: every token is at least one character, so this many tokens suffice.
        new = generate_ids(
            model, [prompt], stop_ids=(), max_new_tokens=len(expected), temperature=0.0
        )
        continuation = tokenizer.decode(new[0])
        others = ["".join(rng.choice(alphabet, size=len(canary.secret))) for _ in range(candidates)]
        texts = [canary.text] + [f"{canary.prefix}{canary.separator}{s}" for s in others]
        scores = sequence_logprobs(
            model, [[tokenizer.bos_id, *tokenizer.encode("\n" + t)] for t in texts], device=device
        )
        rank = 1 + sum(1 for s in scores[1:] if s > scores[0])
        results.append(
            {
                "text": canary.text,
                "prefix": canary.prefix,
                "continuation": continuation,
                "hit": continuation.startswith(expected),
                "rank": rank,
                "candidates": len(texts),
                "exposure_bits": math.log2(len(texts)) - math.log2(rank),
            }
        )
    return results


def sample_texts(
    model: nn.Module,
    tokenizer: Any,
    *,
    count: int,
    max_new_tokens: int,
    seed: int,
    temperature: float = 1.0,
) -> list[str]:
    """Unconditional samples (from `<|bos|>` alone) at the model's own temperature,
    no top-k/top-p: the model's own distribution, which is what copying is about."""
    rows = generate_ids(
        model,
        [[tokenizer.bos_id]] * count,
        stop_ids=(),
        max_new_tokens=max_new_tokens,
        temperature=temperature,
        seed=seed,
    )
    return [tokenizer.decode(row) for row in rows]


def training_continuations(
    model: nn.Module,
    tokenizer: Any,
    train_tokens: np.ndarray,
    *,
    count: int,
    prompt_tokens: int,
    max_new_tokens: int,
    seed: int,
) -> list[str]:
    """Greedy continuations of `count` prompts cut from random places of the training
    stream ("discoverable memorisation", Carlini et al. 2022): a model that memorised
    its corpus continues with the very text that followed; one that generalises writes
    plausible text of its own. Only the continuation is returned (the prompt is not
    counted as copied)."""
    rng = np.random.default_rng([seed, 17])
    prompt_tokens = min(prompt_tokens, len(train_tokens) - 1)
    starts = rng.integers(0, len(train_tokens) - prompt_tokens, size=count)
    prompts = [[int(t) for t in train_tokens[s : s + prompt_tokens]] for s in starts]
    rows = generate_ids(model, prompts, stop_ids=(), max_new_tokens=max_new_tokens, temperature=0.0)
    return [tokenizer.decode(row) for row in rows]


def _ngrams(words: list[str], n: int) -> list[tuple[str, ...]]:
    return [tuple(words[i : i + n]) for i in range(len(words) - n + 1)]


def ngrams_found_in(text: str, wanted: set[tuple[str, ...]], n: int) -> set[tuple[str, ...]]:
    """Which of `wanted` occur in `text` (word n-grams, whitespace-normalised).

    Streams over `text` holding only the wanted set, so a large corpus costs time, not
    memory.
    """
    firsts = {g[0] for g in wanted}
    words = text.split()
    found = set()
    for i in range(len(words) - n + 1):
        if words[i] in firsts:
            gram = tuple(words[i : i + n])
            if gram in wanted:
                found.add(gram)
    return found


def copy_diagnostics(
    samples: list[str], train_text: str, val_text: str, n: int = NGRAM_WORDS, top_spans: int = 3
) -> dict[str, Any]:
    """Train copy rate, held-out overlap and the longest copied spans of `samples`."""
    per_sample = [_ngrams(s.split(), n) for s in samples]
    generated = [g for grams in per_sample for g in grams]
    if not generated:
        reason = f"the samples contain fewer than {n} words, so no word {n}-gram can be checked"
        return {
            "train_copy_rate": None,
            "train_copy_rate_reason": reason,
            "heldout_overlap": None,
            "heldout_overlap_reason": reason,
            "copied_spans": [],
            "ngram_words": n,
            "generated_ngrams": 0,
        }
    wanted = set(generated)
    in_train = ngrams_found_in(train_text, wanted, n)
    in_val = ngrams_found_in(val_text, wanted, n)
    spans = []
    for grams in per_sample:
        run_start = None
        for i in range(len(grams) + 1):
            copied = i < len(grams) and grams[i] in in_train
            if copied and run_start is None:
                run_start = i
            if not copied and run_start is not None:
                words = list(grams[run_start]) + [g[-1] for g in grams[run_start + 1 : i]]
                spans.append(" ".join(words))
                run_start = None
    spans.sort(key=lambda s: len(s.split()), reverse=True)
    return {
        "train_copy_rate": sum(g in in_train for g in generated) / len(generated),
        "heldout_overlap": sum(g in in_val for g in generated) / len(generated),
        "copied_spans": [{"text": s, "words": len(s.split())} for s in spans[:top_spans]],
        "ngram_words": n,
        "generated_ngrams": len(generated),
    }
