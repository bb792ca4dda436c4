"""The batched decoder against the one-request decoder it must equal, row for row."""

from __future__ import annotations

import threading
import time

import pytest

import picochat
from picochat.generation import sampling_config
from picochat.serve import engine as engine_module
from picochat.serve.engine import Engine, QueueFull, Request
from picochat.serve.text import ReplyText

CHATS = [
    [{"role": "user", "content": "What does a tokenizer do?"}],
    [{"role": "user", "content": "Hi"}],
    [
        {"role": "system", "content": "Answer briefly."},
        {"role": "user", "content": "Explain base pretraining and SFT in detail, please."},
    ],
    [
        {"role": "user", "content": "Weather?"},
        {
            "role": "assistant",
            "content": "",
            "tool_calls": [{"function": {"name": "get_weather", "arguments": {"city": "Paris"}}}],
        },
        {"role": "tool", "content": "sunny, 21 C"},
    ],
]


class Collector:
    """Sinks for several requests; `wait` until all have their final event."""

    def __init__(self) -> None:
        self.events: dict[int, list] = {}
        self.done = threading.Semaphore(0)

    def sink(self, key: int):
        self.events[key] = []

        def _sink(event) -> None:
            self.events[key].append(event)
            if event.final:
                self.done.release()

        return _sink

    def wait(self, count: int) -> None:
        for _ in range(count):
            assert self.done.acquire(timeout=60), "the engine did not finish"

    def text(self, key: int) -> str:
        return "".join(e.text for e in self.events[key])


def test_batched_rows_equal_picochat_chat_and_generate(served):
    """Greedy and seeded sampled replies, decoded together with rows of other lengths that
    join mid-way, equal what picochat.chat / picochat.generate give for each alone."""
    tok = served.info["tokenizer"]
    jobs = [
        (served.chat_ids(m), dict(temperature=0.0, max_new_tokens=30 + 7 * i), True)
        for i, m in enumerate(CHATS)
    ]
    sampled = dict(
        temperature=0.9, top_k=12, top_p=0.9, repetition_penalty=1.3, seed=7, max_new_tokens=25
    )
    jobs.append((served.chat_ids(CHATS[0]), sampled, True))
    jobs.append((served.text_ids("Picochat is"), dict(temperature=0.0, max_new_tokens=40), False))
    engine = Engine(served, max_batch=3, max_queue=8).start()  # 6 jobs: rows leave and join
    got = Collector()
    try:
        for key, (ids, sampling, chat) in enumerate(jobs):
            request = Request(ids, sampling_config(**sampling), got.sink(key), chat=chat)
            engine.submit(request)
            if key == 1:
                time.sleep(0.05)  # the rest arrive while the first rows are decoding
        got.wait(len(jobs))
    finally:
        engine.close()
    assert engine.stats["max_rows"] == 3 and engine.stats["errors"] == 0
    assert len({got.text(key) for key in range(len(jobs))}) == len(jobs)  # varied, non-trivial
    for key, messages in enumerate(CHATS):
        assert got.text(key) == picochat.chat(served.model, tok, messages, **jobs[key][1])
    assert got.text(4) == picochat.chat(served.model, tok, CHATS[0], **sampled)
    assert got.text(5) == picochat.generate(served.model, tok, "Picochat is", **jobs[5][1])
    final = got.events[5][-1]
    assert final.finish_reason in ("stop", "length")
    assert final.prompt_tokens == len(jobs[5][0])


def test_prompts_admitted_together_share_one_prefill_and_equal_each_alone(served, monkeypatch):
    """Requests queued before the engine starts are admitted in one turn: their prompts
    (all of different lengths) are prefilled in one left-padded forward, and each reply
    still equals picochat.chat alone; a bad prompt in the same turn fails alone, and a
    request cancelled before its turn is dropped."""
    tok = served.info["tokenizer"]
    sampled = dict(temperature=0.9, top_k=12, repetition_penalty=1.3, seed=3, max_new_tokens=20)
    jobs = [(m, dict(temperature=0.0, max_new_tokens=25)) for m in CHATS] + [(CHATS[2], sampled)]
    monkeypatch.setattr(engine_module, "PREFILL_PADDING", 10.0)  # any lengths share a group
    engine = Engine(served, max_batch=8, max_queue=8)  # not started: every request waits
    got = Collector()
    for key, (messages, sampling) in enumerate(jobs):
        engine.submit(
            Request(served.chat_ids(messages), sampling_config(**sampling), got.sink(key))
        )
    too_long = [served.text_ids("a" * served.context_size)[: served.context_size]]
    engine.submit(Request(too_long[0], sampling_config(max_new_tokens=2), got.sink(len(jobs))))
    gone = Request(served.text_ids("gone"), sampling_config(max_new_tokens=5), got.sink(99))
    engine.submit(gone)
    engine.cancel(gone)
    engine.start()
    try:
        got.wait(len(jobs) + 1)
    finally:
        engine.close()
    assert len({len(served.chat_ids(m)) for m, _ in jobs}) == len(CHATS)  # lengths differ
    assert engine.stats["prefills"] == 1 and engine.stats["cancelled"] == 1
    for key, (messages, sampling) in enumerate(jobs):
        assert got.text(key) == picochat.chat(served.model, tok, messages, **sampling)
    assert "context" in got.events[len(jobs)][-1].error
    assert got.events[99] == []


def test_prefill_groups_hold_prompts_of_similar_lengths(served):
    engine = Engine(served, max_batch=8)
    rows: list = []
    for length in (100, 40, 41, 8, 42, 9):
        engine._new_row(Request([1] * length, sampling_config(), lambda e: None), rows)
    groups = engine._prefill_groups(rows)
    assert [[len(r.request.prompt_ids) for r in g] for g in groups] == [
        [8, 9],
        [40, 41, 42],
        [100],
    ]


def test_max_tokens_and_context_end_a_row_with_length(served):
    engine = Engine(served, max_batch=2).start()
    got = Collector()
    long_prompt = served.text_ids("a" * (served.context_size - 4))
    try:
        engine.submit(
            Request(long_prompt, sampling_config(temperature=0.0, max_new_tokens=50), got.sink(0))
        )
        engine.submit(
            Request(
                served.text_ids("b"),
                sampling_config(temperature=0.0, max_new_tokens=3),
                got.sink(1),
            )
        )
        got.wait(2)
    finally:
        engine.close()
    first, second = got.events[0][-1], got.events[1][-1]
    if first.finish_reason == "length":  # stopped by the context (4 positions left)
        assert first.completion_tokens == served.context_size - len(long_prompt)
    if second.finish_reason == "length":
        assert second.completion_tokens == 3


def test_cancel_frees_the_row_before_the_next_step(served):
    engine = Engine(served, max_batch=1, max_queue=1).start()
    got = Collector()
    first = Request(
        served.text_ids("x"),
        sampling_config(temperature=0.0, max_new_tokens=90),
        got.sink(0),
        stops=(),
    )
    try:
        engine.submit(first)
        engine.cancel(first)
        engine.submit(
            Request(
                served.text_ids("y"),
                sampling_config(temperature=0.0, max_new_tokens=2),
                got.sink(1),
            )
        )
        got.wait(1)  # the second request ran although the first asked for 90 tokens
    finally:
        engine.close()
    assert got.events[1][-1].final
    assert all(not e.final for e in got.events[0])  # the cancelled one was simply dropped


def test_a_full_queue_refuses_instead_of_waiting(served):
    engine = Engine(served, max_batch=1, max_queue=1)  # not started: nothing drains
    request = lambda: Request([1, 2], sampling_config(max_new_tokens=1), lambda e: None)  # noqa: E731
    engine.submit(request())  # a free row
    engine.submit(request())  # the queue
    with pytest.raises(QueueFull):
        engine.submit(request())


def test_reply_text_holds_back_a_possible_stop_and_cuts_at_it():
    pieces = "Hello wor", "ld. END", "ING more"
    text = ReplyText(lambda ids: "".join(pieces[i] for i in ids), stops=["ENDING", "xyz"])
    assert text.add(0) == ("Hello wor", False)
    assert text.add(1) == ("ld. ", False)  # "END" may start "ENDING": held back
    assert text.add(2) == ("", True)  # the stop string is not returned
    assert text.flush() == ""
    plain = ReplyText(lambda ids: "".join(pieces[i] for i in ids), stops=["zz"])
    assert plain.add(0) == ("Hello wor", False)
    assert plain.flush() == ""


def test_reply_text_waits_for_a_whole_character():
    data = "é".encode()
    text = ReplyText(lambda ids: bytes(data[i] for i in ids).decode("utf-8", "replace"))
    assert text.add(0) == ("", False)
    assert text.add(1) == ("é", False)


def test_a_long_context_model_gets_a_window_that_fits_the_cache_budget(served):
    config = served.model.config
    per_position = 2 * config.n_layer * config.n_kv_head * config.head_dim * 2 * 4  # 2 slots
    engine = Engine(served, max_batch=2, cache_bytes=per_position * 50)
    assert engine.context_size == 50 < served.context_size
    assert engine.cache.keys[0].shape[2] == 50
    got = Collector()
    engine.start()
    try:
        prompt = served.text_ids("a" * 55)
        engine.submit(Request(prompt, sampling_config(max_new_tokens=2), got.sink(0)))
        engine.submit(
            Request(served.text_ids("a" * 40), sampling_config(max_new_tokens=20), got.sink(1))
        )
        got.wait(2)
    finally:
        engine.close()
    assert "55" in got.events[0][-1].error or "56" in got.events[0][-1].error
    final = got.events[1][-1]
    assert final.completion_tokens <= 50 - 41  # stopped by the 50-position window


def test_reply_text_decodes_incrementally_to_the_whole_decode(tmp_path):
    """Piece by piece equals one decode of all ids, for multi-byte characters that a
    byte-level BPE splits over tokens and a stop string that arrives split; and no
    decode call sees the whole long reply."""
    from picochat.configs import TokenizerTrainConfig
    from picochat.tokenizer import load_tokenizer, train_tokenizer

    reply = "naïve café ∑ 東京 " * 40 + "the END marker and more"
    (tmp_path / "corpus.txt").write_text("plain ascii words only\n" * 50, encoding="utf-8")
    config = TokenizerTrainConfig(
        input=tmp_path / "corpus.txt", out=tmp_path / "tok.json", type="bpe", vocab_size=300
    )
    train_tokenizer(config)
    tokenizer = load_tokenizer(str(tmp_path / "tok.json"))
    ids = tokenizer.encode(reply)
    calls: list[int] = []

    def decode(chunk):
        calls.append(len(chunk))
        return tokenizer.decode(list(chunk))

    text = ReplyText(decode, stops=["END marker"])
    sent = []
    for token in ids:
        piece, stopped = text.add(token)
        sent.append(piece)
        if stopped:
            break
    sent.append(text.flush())
    assert "".join(sent) == reply[: reply.index("END marker")]
    assert max(calls) < len(ids) // 4  # windows, not the reply so far
