"""Continuous batching: one decode loop serving every request of a model at once.

A background thread owns the model. Each turn of its loop:
1. admits waiting requests into free slots (up to `max_batch` rows): the prompts
   admitted together are prefilled in one forward ([B, T], left-padded: `slots`; a
   lone prompt [1, T]) and each row's first token sampled;
2. runs ONE batched forward for all active rows ([n, 1], each row at its own position:
   `picochat.serve.slots`), samples a token per row and hands each row its new text;
3. retires rows that finished (stop token, stop string, max tokens, full context) or
   whose client went away (`cancel`): the slot is free for the next turn.
So requests join and leave between steps, and a decode step costs about the same for
16 rows as for 1 on a CPU (the weights are read once per step either way).

Sampling per row reuses `picochat.generation.next_tokens` (repetition penalty ->
greedy or temperature -> top-k -> top-p -> a draw from the row's own seeded
generator); greedy rows share one call. A row computes what it would alone, so greedy
output equals `picochat.chat` / `picochat.generate` (tests check it while batched).

Admission is bounded: `submit` raises `QueueFull` when `max_queue` requests already
wait, so the HTTP layer answers 429 instead of stalling. An exception while serving
one request ends that request with an error event; the loop keeps running.

Not here: HTTP and JSON (`api.py`), text <-> ids (`models.py`), stop strings (`text.py`).
"""

from __future__ import annotations

import collections
import dataclasses
import logging
import threading
from collections.abc import Callable
from typing import Any

import torch

from picochat.configs import SamplingConfig
from picochat.generation import next_tokens
from picochat.serve.models import ServedModel
from picochat.serve.slots import SlotCache
from picochat.serve.text import ReplyText

log = logging.getLogger("picochat.serve")


# The KV cache is preallocated for every slot at once; a model with a long context (an
# imported 8K-context model: ~6 GB at 16 slots) gets a shorter per-request window
# instead of that much memory. A Picochat model's context fits many times over.
CACHE_BYTES = 2 << 30

# Prompts admitted in one turn are prefilled together, left-padded to the longest of
# their group. A group holds prompts of similar lengths: at most PREFILL_PADDING times
# their real tokens in padded positions (16 bench prompts of 41-121 tokens, 2-core CPU:
# 4 groups at 1.1 cost 14% less CPU than 16 prefills alone; one group at 1.5x padding,
# 45% more: the padding and the masked attention cost more than the batching saves),
PREFILL_PADDING = 1.1
# at most this many padded positions per forward (activations stay a few MB at n_embd 384),
PREFILL_TOKENS = 4096
# and at most this many attention scores (rows x heads x T x T): the size under which the
# transformer's CPU attention uses batched matmuls (`model.transformer`).
PREFILL_SCORES = 1 << 25


class QueueFull(Exception):
    """More requests are waiting than the engine's queue holds."""


@dataclasses.dataclass
class Event:
    """What a request hears from the engine: text, then one final event."""

    text: str = ""
    finish_reason: str | None = None  # "stop" | "length" once the reply ended
    prompt_tokens: int = 0
    completion_tokens: int = 0
    error: str | None = None

    @property
    def final(self) -> bool:
        return self.finish_reason is not None or self.error is not None


@dataclasses.dataclass
class Request:
    """One generation: prompt ids, sampling settings, and where events go."""

    prompt_ids: list[int]
    sampling: SamplingConfig  # max_new_tokens = the request's max_tokens
    sink: Callable[[Event], None]  # called on the engine thread; must not block
    stops: tuple[str, ...] = ()
    ignore_eos: bool = False  # stop tokens do not end the row (decoded as text)
    chat: bool = False  # a chat reply: any token opening another turn ends it too
    cancelled: bool = False


@dataclasses.dataclass
class _Row:
    request: Request
    text: ReplyText
    limit: int  # max new tokens: max_tokens, and the context's room
    generator: torch.Generator | None
    seen: torch.Tensor | None  # [vocab] tokens in the text (repetition penalty only)
    generated: int = 0
    last: int = 0
    done: bool = False


class Engine:
    """The batched decoder of one `ServedModel`, running on its own thread."""

    def __init__(
        self,
        served: ServedModel,
        *,
        max_batch: int = 16,
        max_queue: int = 64,
        cache_bytes: int = CACHE_BYTES,
    ) -> None:
        self.served = served
        self.model = served.model
        self.max_batch, self.max_queue = max_batch, max_queue
        self.device = next(self.model.parameters()).device
        dtype = next(self.model.parameters()).dtype
        config = self.model.config
        # keys + values of every layer, for one position of every slot
        per_position = 2 * config.n_layer * config.n_kv_head * config.head_dim * max_batch
        per_position *= dtype.itemsize
        fits = max(2, cache_bytes // per_position)
        self.context_size = min(served.context_size, fits)  # prompt + reply, per request
        self.cache = SlotCache(
            config, max_batch, max_len=self.context_size, device=self.device, dtype=dtype
        )
        self.pending: collections.deque[Request] = collections.deque()
        self.active: list[_Row] = []
        self.stats = {
            "steps": 0,
            "prefills": 0,  # prefill forwards (the prompts admitted together share one)
            "rows_stepped": 0,
            "max_rows": 0,
            "requests": 0,
            "errors": 0,
            "cancelled": 0,  # rows dropped because their client went away
        }
        self._wake = threading.Condition()
        self._closed = False
        self._thread = threading.Thread(target=self._loop, name="picochat-engine", daemon=True)

    # ---- the caller's side (any thread) ----------------------------------------------

    def start(self) -> Engine:
        self._thread.start()
        return self

    def close(self) -> None:
        with self._wake:
            self._closed = True
            self._wake.notify_all()
        if self._thread.is_alive():
            self._thread.join(timeout=10)

    def submit(self, request: Request) -> None:
        """Queue `request`; raises QueueFull when every row is taken and `max_queue`
        requests already wait."""
        with self._wake:
            free_rows = max(0, self.max_batch - len(self.active))
            if len(self.pending) >= self.max_queue + free_rows:
                raise QueueFull(f"{len(self.pending)} requests are already waiting")
            self.pending.append(request)
            self.stats["requests"] += 1
            self._wake.notify()

    def cancel(self, request: Request) -> None:
        """The client went away: its row is freed before the next decode step."""
        request.cancelled = True
        with self._wake:
            self._wake.notify()

    def load(self) -> dict[str, int]:
        with self._wake:
            return {"active": len(self.active), "queued": len(self.pending)}

    # ---- the engine thread -------------------------------------------------------------

    def _loop(self) -> None:
        with torch.inference_mode():
            while True:
                with self._wake:
                    while not self._closed and not self.pending and not self.active:
                        self._wake.wait()
                    if self._closed:
                        break
                    admitted = []
                    while self.pending and len(self.active) + len(admitted) < self.max_batch:
                        admitted.append(self.pending.popleft())
                rows: list[_Row] = []
                for request in admitted:
                    self._guarded(self._new_row, [request], request, rows)
                for group in self._prefill_groups(rows):
                    self._guarded(self._prefill, [row.request for row in group], group)
                self._retire()
                if self.active:
                    self._guarded(self._step, [row.request for row in self.active])
                    self._retire()
        for row in self.active:
            row.request.sink(Event(error="the server is shutting down"))
        for request in self.pending:
            request.sink(Event(error="the server is shutting down"))

    def _guarded(self, work: Callable[..., None], requests: list[Request], *args: Any) -> None:
        """Run `work`; on an exception, end `requests` with an error and carry on."""
        try:
            work(*args)
        except Exception as error:  # the loop must outlive any one bad request
            log.exception("engine error")
            self.stats["errors"] += 1
            for request in requests:
                request.sink(Event(error=f"generation failed: {type(error).__name__}: {error}"))
            for row in self.active:
                if row.request in requests:
                    row.done = True

    def _new_row(self, request: Request, rows: list[_Row]) -> None:
        """Check an admitted request and add its row (not yet prefilled) to `rows`."""
        if request.cancelled:
            self.stats["cancelled"] += 1
            return
        prompt = request.prompt_ids
        context = self.context_size
        if not 0 < len(prompt) < context:
            raise ValueError(f"prompt of {len(prompt)} tokens for a {context}-token context")
        config = request.sampling
        generator = None
        if config.seed is not None:
            generator = torch.Generator(device=self.device).manual_seed(config.seed)
        seen = None
        if config.repetition_penalty != 1.0:
            seen = torch.zeros(self.model.config.vocab_size, dtype=torch.bool, device=self.device)
            seen[prompt] = True
        rows.append(
            _Row(
                request=request,
                text=ReplyText(self.served.decode, request.stops),
                limit=min(config.max_new_tokens, context - len(prompt)),
                generator=generator,
                seen=seen,
            )
        )

    def _prefill_groups(self, rows: list[_Row]) -> list[list[_Row]]:
        """Rows by prompt length, cut into groups that each fit one prefill forward
        (`PREFILL_PADDING`, `PREFILL_TOKENS`, `PREFILL_SCORES`)."""
        heads = self.model.config.n_head
        groups: list[list[_Row]] = []
        for row in sorted(rows, key=lambda row: len(row.request.prompt_ids)):
            width = len(row.request.prompt_ids)  # the group's longest: rows are sorted
            group = groups[-1] if groups else []
            count, real = len(group) + 1, width + sum(len(r.request.prompt_ids) for r in group)
            padded = count * width
            fits = padded <= min(PREFILL_TOKENS, PREFILL_PADDING * real)
            fits = fits and count * heads * width**2 <= PREFILL_SCORES
            if groups and fits:
                groups[-1].append(row)
            else:
                groups.append([row])
        return groups

    def _prefill(self, rows: list[_Row]) -> None:
        """Read the rows' prompts into the next free slots (one forward) and emit each
        row's first token."""
        prompts = [row.request.prompt_ids for row in rows]
        first = len(self.active)
        if len(rows) == 1:
            ids = torch.tensor(prompts, dtype=torch.long, device=self.device)
            view: Any = self.cache.prefill_view(first)
        else:
            width = max(len(prompt) for prompt in prompts)
            padded = [[self.served.pad_id] * (width - len(p)) + list(p) for p in prompts]
            ids = torch.tensor(padded, dtype=torch.long, device=self.device)
            slots = list(range(first, first + len(rows)))
            view = self.cache.batch_prefill_view(slots, [len(p) for p in prompts])
        logits, _ = self.model(ids, cache=view, last_logits_only=True)
        self.stats["prefills"] += 1
        self.active.extend(rows)  # a row whose client left meanwhile: `_retire` drops it
        for row, token in zip(rows, self._sample(rows, logits[:, -1]), strict=True):
            if not row.request.cancelled:
                self._emit(row, token)

    def _step(self) -> None:
        rows = self.active
        ids = torch.tensor([[row.last] for row in rows], dtype=torch.long, device=self.device)
        logits, _ = self.model(ids, cache=self.cache.decode_view(len(rows)), last_logits_only=True)
        self.stats["steps"] += 1
        self.stats["rows_stepped"] += len(rows)
        self.stats["max_rows"] = max(self.stats["max_rows"], len(rows))
        for row, token in zip(rows, self._sample(rows, logits[:, -1]), strict=True):
            self._emit(row, token)

    def _sample(self, rows: list[_Row], logits: torch.Tensor) -> list[int]:
        """One token per row; plain greedy rows in one call, the others with their own
        settings, seen-token set and generator."""
        out = [0] * len(rows)
        plain = [
            i
            for i, row in enumerate(rows)
            if row.request.sampling.temperature == 0 and row.seen is None
        ]
        if plain:
            picks = next_tokens(logits[plain], rows[plain[0]].request.sampling)
            for i, token in zip(plain, picks.tolist(), strict=True):
                out[i] = token
        for i, row in enumerate(rows):
            if i in plain:
                continue
            seen = None if row.seen is None else row.seen[None]
            picked = next_tokens(logits[i : i + 1], row.request.sampling, seen, row.generator)
            out[i] = int(picked[0])
        return out

    def _emit(self, row: _Row, token: int) -> None:
        if token in self.served.stops(chat=row.request.chat) and not row.request.ignore_eos:
            self._finish(row, "stop")
            return
        row.generated += 1
        row.last = token
        if row.seen is not None:
            row.seen[token] = True
        piece, hit_stop = row.text.add(token)
        if piece:
            row.request.sink(Event(text=piece))
        if hit_stop:
            self._finish(row, "stop")
        elif row.generated >= row.limit:
            self._finish(row, "length")

    def _finish(self, row: _Row, reason: str) -> None:
        rest = row.text.flush()
        row.done = True
        row.request.sink(
            Event(
                text=rest,
                finish_reason=reason,
                prompt_tokens=len(row.request.prompt_ids),
                completion_tokens=row.generated,
            )
        )

    def _retire(self) -> None:
        """Drop finished and cancelled rows, moving the last row into each gap."""
        index = 0
        while index < len(self.active):
            row = self.active[index]
            if not (row.done or row.request.cancelled):
                index += 1
                continue
            if not row.done:
                self.stats["cancelled"] += 1
            last = len(self.active) - 1
            if index != last:
                self.cache.move(last, index)
                self.active[index] = self.active[last]
            self.active.pop()
