"""The workbench's JSON routes over a real run folder (no browser needed)."""

from __future__ import annotations

import json
import urllib.error
import urllib.request

import pytest

SECTIONS = ["corpus", "tokenizer", "base", "memorization", "sft", "dpo", "eval", "gates", "samples"]


def get(url: str, body: dict | None = None) -> tuple[int, dict]:
    data = None if body is None else json.dumps(body).encode()
    try:
        with urllib.request.urlopen(urllib.request.Request(url, data=data), timeout=60) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


@pytest.fixture(scope="module")
def web(runs_dir, start_server):
    from picochat.serve.workbench import workbench_app

    with start_server(workbench_app(runs_dir, max_batch=2)) as url:
        yield url


def test_the_story_is_read_from_the_run_files_in_spec_order(web, runs_dir):
    status, runs = get(web + "/api/runs")
    assert status == 200 and {r["name"] for r in runs["runs"]} == {"first", "second"}
    status, story = get(web + "/api/runs/first")
    assert [s["id"] for s in story["sections"]] == SECTIONS
    sections = {s["id"]: s for s in story["sections"]}
    report = json.loads((runs_dir / "first" / "base" / "train_report.json").read_text())
    assert [p["step"] for p in sections["base"]["curve"]] == [h["step"] for h in report["history"]]
    assert sections["base"]["curve"][-1]["val_loss"] == report["history"][-1]["val_loss"]
    manifest = json.loads((runs_dir / "first" / "corpus_manifest.json").read_text())
    assert [f["path"] for f in sections["corpus"]["files"]] == [
        f["path"] for f in manifest["files"]
    ]
    assert sections["corpus"]["files"][0]["quality_score"] == manifest["files"][0]["quality_score"]
    summary = json.loads((runs_dir / "first" / "summary.json").read_text())
    assert sections["gates"]["findings"] == summary["gates"]["findings"]
    assert sections["dpo"]["written"] is False and not sections["dpo"]["curve"]
    assert story["final_model"] == "sft/checkpoint" and story["live"] is False


def test_tokenize_prompt_and_compare_routes(web):
    status, tokens = get(web + "/api/runs/first/tokenize", {"text": "abc"})
    assert status == 200 and "".join(t["text"] for t in tokens["tokens"]) == "abc"
    status, prompt = get(
        web + "/api/runs/first/prompt", {"messages": [{"role": "user", "content": "hi"}]}
    )
    assert prompt["text"] == "<|bos|><|user|>hi<|end|><|assistant|>" and prompt["tokens"] == 6
    status, compared = get(web + "/api/compare?a=first&b=second")
    tables = [b for b in compared["blocks"] if b["kind"] == "Table"]
    assert tables[0]["rows"] == [["run.seed", 1337, 7]]  # the differing setting comes first
    for bad in ("/api/runs/nope", "/api/runs/..%2F..%2Fetc", "/api/compare?a=first&b=nope"):
        status, body = get(web + bad)
        assert status == 404 and body["error"]["message"]


def test_the_playground_model_is_the_runs_final_model(web):
    status, models = get(web + "/v1/models")
    assert [m["id"] for m in models["data"]] == sorted(["first", "second"]) or status == 200
    body = {"model": "first", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 3}
    status, reply = get(web + "/v1/chat/completions", body)
    assert status == 200 and reply["model"] == "first" and reply["usage"]["completion_tokens"] <= 3
