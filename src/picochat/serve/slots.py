"""A KV cache with one length per row, for continuous batching (`picochat.serve.engine`).

`picochat.model.transformer.KVCache` shares one slot index across rows (prompts are
left-padded to a common length), which suits a batch that starts and ends together.
A server's batch does not: requests join and leave between decode steps, each at its
own length. Here every row (a "slot") owns `max_len` positions starting at 0 and
a length of its own, so a row computes exactly what it would alone:

- prefill: one new request's prompt goes into a free slot alone ([1, T] forward, plain
  causal attention, rotary positions 0..T-1); or the prompts admitted together go into
  their slots in one [B, T] forward, left-padded to the longest, with the positions and
  mask of `picochat.model.transformer.KVCache`'s `pad_lengths` (as `picochat.generate`
  batches), each slot keeping only its real keys from position 0;
- decode step: the `n` active slots (always rows 0..n-1, kept dense by `move`) feed one
  token each ([n, 1] forward); row b writes its key/value at its own position
  `lengths[b]` and attends to keys 0..lengths[b] (a boolean mask hides the rest).

The transformer talks to a cache through `positions(T)`, `attention_mask(T)`,
`update(layer, k, v)` and `length` (read, then `+= T` after the forward); the three
views below implement exactly that, so the model needs no change.

Not here: scheduling (`engine.py`) or sampling (`picochat.generation`).
"""

from __future__ import annotations

import torch


class SlotCache:
    """Keys/values [slots, n_kv_head, max_len, head_dim] per layer + a length per slot."""

    def __init__(
        self,
        config,
        slots: int,
        *,
        max_len: int | None = None,
        device: torch.device | str = "cpu",
        dtype=torch.float32,
    ) -> None:
        max_len = config.context_size if max_len is None else min(max_len, config.context_size)
        shape = (slots, config.n_kv_head, max_len, config.head_dim)
        self.keys = [torch.zeros(shape, device=device, dtype=dtype) for _ in range(config.n_layer)]
        self.values = [
            torch.zeros(shape, device=device, dtype=dtype) for _ in range(config.n_layer)
        ]
        self.lengths = [0] * slots  # Python ints: no device sync to read them
        self.context_size = max_len  # positions per slot
        self.device = torch.device(device)

    def prefill_view(self, slot: int) -> PrefillView:
        """The cache as the model sees it while `slot` (emptied) reads its prompt."""
        self.lengths[slot] = 0
        return PrefillView(self, slot)

    def batch_prefill_view(self, slots: list[int], lengths: list[int]) -> BatchPrefillView:
        """The cache while `slots` (emptied) read prompts of `lengths` tokens, left-padded."""
        for slot in slots:
            self.lengths[slot] = 0
        return BatchPrefillView(self, slots, lengths)

    def decode_view(self, n: int) -> DecodeView:
        """The cache as the model sees it for one token in each of slots 0..n-1."""
        return DecodeView(self, n)

    def move(self, source: int, target: int) -> None:
        """Copy slot `source` (its filled positions) into `target`: keeps active rows dense."""
        length = self.lengths[source]
        for tensors in (self.keys, self.values):
            for layer in tensors:
                layer[target, :, :length] = layer[source, :, :length]
        self.lengths[target] = length


class PrefillView:
    """One slot, starting empty: plain causal attention over its own prompt."""

    def __init__(self, cache: SlotCache, slot: int) -> None:
        self.cache, self.slot = cache, slot

    @property
    def length(self) -> int:
        return self.cache.lengths[self.slot]

    @length.setter
    def length(self, value: int) -> None:
        self.cache.lengths[self.slot] = value

    def positions(self, n_new: int) -> torch.Tensor:
        start = self.length
        return torch.arange(start, start + n_new, device=self.cache.device)[None, :]

    def attention_mask(self, n_new: int) -> torch.Tensor | None:
        if self.length == 0:
            return None  # a first chunk: the transformer applies plain causal attention
        raise ValueError("a prefill view only fills an empty slot")

    def update(self, layer: int, k: torch.Tensor, v: torch.Tensor) -> tuple[torch.Tensor, ...]:
        end = self.length + k.size(2)
        if end > self.cache.context_size:
            raise ValueError(f"slot full: {end} positions > context {self.cache.context_size}")
        row = slice(self.slot, self.slot + 1)
        self.cache.keys[layer][row, :, self.length : end] = k
        self.cache.values[layer][row, :, self.length : end] = v
        return self.cache.keys[layer][row, :, :end], self.cache.values[layer][row, :, :end]


class BatchPrefillView:
    """Empty slots reading their prompts in one [B, T] forward, T the longest prompt: row b
    has T - lengths[b] padding columns first. A padding column gets rotary position 0
    and is seen by no real query (a padding query sees itself only: no empty softmax);
    only the real keys are stored, at positions 0..lengths[b]-1 of the row's slot."""

    def __init__(self, cache: SlotCache, slots: list[int], lengths: list[int]) -> None:
        self.cache, self.slots, self.lengths = cache, slots, lengths
        self.width = max(lengths)
        if self.width > cache.context_size:
            raise ValueError(f"prompt of {self.width} tokens > context {cache.context_size}")
        self.pads = [self.width - n for n in lengths]
        self._pad = torch.tensor(self.pads, dtype=torch.long, device=cache.device)

    @property
    def length(self) -> int:
        return 0  # the slots start empty

    @length.setter
    def length(self, value: int) -> None:  # after the forward: each slot holds its prompt
        for slot, n in zip(self.slots, self.lengths, strict=True):
            self.cache.lengths[slot] = n

    def positions(self, n_new: int) -> torch.Tensor:
        columns = torch.arange(n_new, device=self.cache.device)
        return (columns[None, :] - self._pad[:, None]).clamp(min=0)

    def attention_mask(self, n_new: int) -> torch.Tensor | None:
        if not any(self.pads):
            return None  # equal lengths: plain causal attention, as a prefill alone
        column = torch.arange(n_new, device=self.cache.device)
        query, key = column[:, None], column[None, :]
        real_key = key[None] >= self._pad[:, None, None]  # [B, 1, T]
        return ((key <= query)[None] & (real_key | (key == query)[None]))[:, None]

    def update(self, layer: int, k: torch.Tensor, v: torch.Tensor) -> tuple[torch.Tensor, ...]:
        keys, values = self.cache.keys[layer], self.cache.values[layer]
        for row, (slot, pad) in enumerate(zip(self.slots, self.pads, strict=True)):
            keys[slot, :, : self.width - pad] = k[row, :, pad:]
            values[slot, :, : self.width - pad] = v[row, :, pad:]
        return k, v  # this forward's keys are all there is


class DecodeView:
    """Slots 0..n-1, one new token each, every row at its own position."""

    def __init__(self, cache: SlotCache, n: int) -> None:
        self.cache, self.n = cache, n
        lengths = cache.lengths[:n]
        if max(lengths) >= cache.context_size:
            raise ValueError("a slot is full: finish it before the next decode step")
        self._span = max(lengths) + 1  # keys every row may need this step
        self._lengths = torch.tensor(lengths, dtype=torch.long, device=cache.device)
        self._rows = torch.arange(n, device=cache.device)

    @property
    def length(self) -> int:
        return self._span - 1  # > 0 for any row that has a prompt: never "a first chunk"

    @length.setter
    def length(self, value: int) -> None:
        step = value - self.length
        for row in range(self.n):
            self.cache.lengths[row] += step

    def positions(self, n_new: int) -> torch.Tensor:
        if n_new != 1:
            raise ValueError("a decode view takes one token per row")
        return self._lengths[:, None]

    def attention_mask(self, n_new: int) -> torch.Tensor:
        keys = torch.arange(self._span, device=self.cache.device)
        return (keys[None, :] <= self._lengths[:, None])[:, None, None, :]  # [n, 1, 1, S]

    def update(self, layer: int, k: torch.Tensor, v: torch.Tensor) -> tuple[torch.Tensor, ...]:
        keys, values = self.cache.keys[layer], self.cache.values[layer]
        keys[self._rows, :, self._lengths] = k[:, :, 0]
        values[self._rows, :, self._lengths] = v[:, :, 0]
        return keys[: self.n, :, : self._span], values[: self.n, :, : self._span]
