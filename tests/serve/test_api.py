"""The server through the official `openai` client (and raw HTTP for malformed input),
against a live uvicorn server on loopback."""

from __future__ import annotations

import http.client
import json
import threading
import time
import urllib.error
import urllib.request
from urllib.parse import urlparse

import pytest

import picochat

openai = pytest.importorskip("openai")

USER = [{"role": "user", "content": "What does a tokenizer do?"}]


def raw_post(url: str, path: str, body: bytes, headers: dict | None = None) -> tuple[int, dict]:
    request = urllib.request.Request(
        url + path, data=body, headers={"Content-Type": "application/json", **(headers or {})}
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def test_models_lists_the_served_model(client):
    assert [m.id for m in client.models.list().data] == ["tiny"]
    assert client.models.retrieve("tiny").id == "tiny"


def test_chat_equals_picochat_chat_streamed_or_not(client, served):
    tok = served.info["tokenizer"]
    expected = picochat.chat(served.model, tok, USER, temperature=0.0, max_new_tokens=40)
    whole = client.chat.completions.create(
        model="tiny", messages=USER, temperature=0, max_tokens=40
    )
    assert whole.choices[0].message.content == expected
    assert whole.choices[0].message.role == "assistant"
    assert whole.usage.prompt_tokens == len(served.chat_ids(USER))
    assert (
        whole.usage.completion_tokens == len(tok.encode(expected))
        or whole.choices[0].finish_reason == "stop"
    )
    chunks = list(
        client.chat.completions.create(
            model="tiny",
            messages=USER,
            temperature=0,
            max_completion_tokens=40,
            stream=True,
            stream_options={"include_usage": True},
        )
    )
    assert chunks[0].choices[0].delta.role == "assistant"
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == expected
    finishes = [
        c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason
    ]
    assert finishes == [whole.choices[0].finish_reason]
    assert chunks[-1].usage.total_tokens == whole.usage.total_tokens


def test_completions_equal_picochat_generate_and_stop_strings_cut(client, served):
    tok = served.info["tokenizer"]
    expected = picochat.generate(
        served.model, tok, "Picochat is", temperature=0.0, max_new_tokens=30
    )
    whole = client.completions.create(
        model="tiny", prompt="Picochat is", temperature=0, max_tokens=30
    )
    assert whole.choices[0].text == expected
    streamed = client.completions.create(
        model="tiny", prompt="Picochat is", temperature=0, max_tokens=30, stream=True
    )
    assert "".join(c.choices[0].text for c in streamed if c.choices) == expected
    stop = expected[5:7]
    cut = client.completions.create(
        model="tiny", prompt="Picochat is", temperature=0, max_tokens=30, stop=[stop]
    )
    assert cut.choices[0].text == expected[: expected.index(stop)]
    assert cut.choices[0].finish_reason == "stop"
    short = client.completions.create(
        model="tiny", prompt="Picochat is", temperature=0, max_tokens=3
    )
    if short.choices[0].finish_reason == "length":
        assert short.usage.completion_tokens == 3


def test_concurrent_streams_are_decoded_together(client, server, served):
    """Four streams at once, each equal to its reply alone; the engine stepped >1 row at once."""
    tok = served.info["tokenizer"]
    prompts = ["Hi", "What is SFT?", "Tell me about DPO and eval rules.", "x"]
    results: dict[int, str] = {}

    def stream(index: int) -> None:
        messages = [{"role": "user", "content": prompts[index]}]
        pieces = client.chat.completions.create(
            model="tiny", messages=messages, temperature=0, max_tokens=60, stream=True
        )
        results[index] = "".join(c.choices[0].delta.content or "" for c in pieces if c.choices)

    before = server["engine"].stats["max_rows"]
    server["engine"].stats["max_rows"] = 0
    threads = [threading.Thread(target=stream, args=(i,)) for i in range(len(prompts))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert server["engine"].stats["max_rows"] > 1
    server["engine"].stats["max_rows"] = max(before, server["engine"].stats["max_rows"])
    for index, prompt in enumerate(prompts):
        messages = [{"role": "user", "content": prompt}]
        assert results[index] == picochat.chat(
            served.model, tok, messages, temperature=0.0, max_new_tokens=60
        )


BAD = [
    (b"{not json", 400, "invalid_json", None),
    (b"[1, 2]", 400, "invalid_json", None),
    (
        b'{"messages": [{"role": "user", "content": "hi"}]}',
        400,
        "missing_required_parameter",
        "model",
    ),
    (b'{"model": "tiny"}', 400, "missing_required_parameter", "messages"),
    (b'{"model": "tiny", "messages": "hi"}', 400, "invalid_type", "messages"),
    (
        b'{"model": "tiny", "messages": [{"role": "user", "content": 3}]}',
        400,
        "invalid_type",
        "messages.0.content",
    ),
    (
        b'{"model": "tiny", "messages": [{"role": "robot", "content": "hi"}]}',
        400,
        "invalid_value",
        "messages.0.role",
    ),
    (
        b'{"model": "tiny", "messages": [{"role": "user", "content": "hi"}], "temperature": "hot"}',
        400,
        "invalid_type",
        "temperature",
    ),
    (
        b'{"model": "tiny", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 0}',
        400,
        "invalid_value",
        "max_tokens",
    ),
    (
        b'{"model": "tiny", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 100000}',
        400,
        "invalid_value",
        "max_tokens",
    ),
    (
        b'{"model": "tiny", "messages": [{"role": "user", "content": "hi"}], "top_p": 0}',
        400,
        "invalid_value",
        "top_p",
    ),
    (
        b'{"model": "tiny", "messages": [{"role": "user", "content": "hi"}], "n": 2}',
        400,
        "unsupported_parameter",
        "n",
    ),
    (
        b'{"model": "nope", "messages": [{"role": "user", "content": "hi"}]}',
        404,
        "model_not_found",
        "model",
    ),
]


@pytest.mark.parametrize(("body", "status", "code", "param"), BAD)
def test_bad_requests_get_openai_errors(server, body, status, code, param):
    got_status, got = raw_post(server["url"], "/v1/chat/completions", body)
    assert got_status == status
    assert set(got["error"]) == {"message", "type", "param", "code"}
    assert (got["error"]["code"], got["error"]["param"]) == (code, param)
    assert got["error"]["message"]


def test_a_too_long_prompt_says_by_how_much_and_the_server_lives_on(client, server, served):
    content = "a" * served.context_size
    over = len(served.chat_ids([{"role": "user", "content": content}])) - (served.context_size - 1)
    with pytest.raises(openai.BadRequestError) as caught:
        client.chat.completions.create(
            model="tiny", messages=[{"role": "user", "content": content}]
        )
    error = caught.value.body
    assert error["code"] == "context_length_exceeded"
    assert f"{over} token(s) too long" in error["message"]
    with pytest.raises(openai.NotFoundError):
        client.completions.create(model="other", prompt="hi")
    status, _ = raw_post(server["url"], "/v1/nowhere", b"{}")
    assert status == 404
    assert client.completions.create(model="tiny", prompt="hi", max_tokens=2).choices


def test_a_full_queue_answers_429(served, start_server):
    from picochat.serve.api import SingleModel, create_app
    from picochat.serve.engine import Engine

    engine = Engine(served, max_batch=1, max_queue=0)
    with start_server(create_app(SingleModel(engine))) as url:
        # The only row is held inside a decode step, so it cannot finish (and free the row)
        # before the second request arrives, however loaded the machine is.
        state = Held(engine.start(), url)
        handle = served.model.register_forward_pre_hook(state.hook)
        try:
            client = openai.OpenAI(base_url=url + "/v1", api_key="x", max_retries=0)
            stream = client.completions.create(
                model="tiny",
                prompt="x",
                max_tokens=150,
                stream=True,
                extra_body={"ignore_eos": True},
            )
            next(iter(stream))  # the only row is now taken
            state.holding.set()
            assert state.entered.wait(timeout=30)
            with pytest.raises(openai.RateLimitError) as caught:
                client.completions.create(model="tiny", prompt="y", max_tokens=2)
            assert caught.value.body["code"] == "queue_full"
        finally:
            handle.remove()
            state.gate.set()
        stream.close()


def test_api_key_is_checked_on_every_route(served, start_server):
    from picochat.serve.api import SingleModel, create_app
    from picochat.serve.engine import Engine

    engine = Engine(served, max_batch=2).start()
    with start_server(create_app(SingleModel(engine), api_key="s3cret")) as url:
        wrong = openai.OpenAI(base_url=url + "/v1", api_key="wrong", max_retries=0)
        with pytest.raises(openai.AuthenticationError):
            wrong.models.list()
        with pytest.raises(openai.AuthenticationError):
            wrong.completions.create(model="tiny", prompt="hi", max_tokens=2)
        for path in ("/health", "/v1/models", "/nowhere"):  # no Authorization header at all
            try:
                urllib.request.urlopen(url + path, timeout=10)
                status, body = 200, {}
            except urllib.error.HTTPError as error:
                status, body = error.code, json.loads(error.read())
            assert status == 401 and body["error"]["code"] == "invalid_api_key"
        good = openai.OpenAI(base_url=url + "/v1", api_key="s3cret", max_retries=0)
        assert good.completions.create(model="tiny", prompt="hi", max_tokens=2).choices


class Held:
    """A server whose engine can be held inside its next forward (a forward pre-hook waits
    on an event), so a test can hang up and see the row cancelled before it could finish."""

    def __init__(self, engine, url: str) -> None:
        self.engine, self.url = engine, urlparse(url)
        self.submitted: list = []
        self.holding, self.entered, self.gate = (threading.Event() for _ in range(3))
        submit = engine.submit
        engine.submit = lambda request: (self.submitted.append(request), submit(request))[1]

    def hook(self, _module, _inputs) -> None:
        if self.holding.is_set():
            self.entered.set()
            assert self.gate.wait(timeout=30)

    def wait_for(self, condition) -> bool:
        deadline = time.monotonic() + 30
        while not condition() and time.monotonic() < deadline:
            time.sleep(0.01)
        return condition()


@pytest.fixture
def held(served, start_server):
    from picochat.serve.api import SingleModel, create_app
    from picochat.serve.engine import Engine

    engine = Engine(served, max_batch=2)
    with start_server(create_app(SingleModel(engine))) as url:
        state = Held(engine.start(), url)
        handle = served.model.register_forward_pre_hook(state.hook)
        try:
            yield state
        finally:
            handle.remove()
            state.gate.set()


def test_a_disconnected_stream_frees_its_row(held):
    body = {"model": "tiny", "prompt": "x", "max_tokens": 150, "stream": True, "ignore_eos": True}
    connection = http.client.HTTPConnection(held.url.hostname, held.url.port, timeout=30)
    connection.request(
        "POST", "/v1/completions", json.dumps(body), {"Content-Type": "application/json"}
    )
    response = connection.getresponse()
    assert response.status == 200
    assert response.readline().startswith(b"data: ")  # decoding has started
    held.holding.set()
    assert held.entered.wait(timeout=30)  # the engine waits inside a decode step
    steps = held.engine.stats["steps"]
    connection.close()
    assert held.wait_for(lambda: held.submitted[0].cancelled)  # the server noticed
    held.gate.set()
    assert held.wait_for(lambda: held.engine.load()["active"] == 0)
    assert held.engine.stats["cancelled"] == 1
    assert held.engine.stats["steps"] <= steps + 1  # only the step that was in flight
    assert steps + 1 < 150


def test_a_client_that_hangs_up_on_a_whole_reply_frees_its_row(held):
    import socket

    body = json.dumps({"model": "tiny", "prompt": "x", "max_tokens": 150, "ignore_eos": True})
    head = (
        "POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    )
    held.holding.set()  # held in the prefill: the row cannot finish before the hang-up
    with socket.create_connection((held.url.hostname, held.url.port)) as sock:
        sock.sendall((head + body).encode())
        assert held.entered.wait(timeout=30)
    assert held.wait_for(lambda: held.submitted[0].cancelled)
    held.gate.set()
    assert held.wait_for(lambda: held.engine.stats["cancelled"] == 1)
    assert held.engine.stats["steps"] == 0  # dropped right after its prefill


def test_tool_messages_render_as_in_sft_rows(client, served):
    call = {"id": "c1", "type": "function"}
    call["function"] = {"name": "get_weather", "arguments": '{"city": "Paris"}'}
    messages = [
        {"role": "user", "content": "Weather in Paris?"},
        {"role": "assistant", "content": None, "tool_calls": [call]},
        {"role": "tool", "tool_call_id": "c1", "content": "sunny, 21 C"},
    ]
    reply = client.chat.completions.create(
        model="tiny", messages=messages, temperature=0, max_tokens=20
    )
    as_sft = [
        messages[0],
        {"role": "assistant", "content": None, "tool_calls": [call]},
        messages[2],
    ]
    tok = served.info["tokenizer"]
    expected = picochat.chat(served.model, tok, as_sft, temperature=0.0, max_new_tokens=20)
    assert reply.choices[0].message.content == expected
    from picochat.chat_format import render_text

    prompt = render_text(as_sft, add_generation_prompt=True)  # what those ids spell
    assert (
        '<tool_call>{"name": "get_weather", "arguments": {"city": "Paris"}}</tool_call>' in prompt
    )
    assert "<|tool|>sunny, 21 C<|end|>" in prompt
