"""`picochat serve` under load: batched decode throughput, time to first token, a soak.

A ~10.6M-parameter model (6 layers, n_embd 384, context 512, a char tokenizer trained on
tinyshakespeare; random weights: speed does not depend on what the weights learned) is
saved as a checkpoint and exported with `picochat export hf`. Then, over loopback:

1. `picochat serve` runs in a subprocess (max batch 16). For 1, 4 and 16 concurrent
   streaming clients, 16 requests each level (/v1/completions, 128 new tokens,
   `ignore_eos` so every reply has the same length, greedy): aggregate decode tokens/s
   (completion tokens from `usage` / wall time of the level) and time to first token
   p50/p95. Sequential serving would give the same tokens/s at every level.
2. The same load against `transformers serve` on the exported folder (same weights,
   prompts and lengths), when it starts here offline; otherwise the reason is recorded
   and a plain transformers `generate` loop (one request at a time) is measured instead.
3. Soak: `--soak` requests (default 500) from 8 client threads: mixed prompt and reply
   lengths, 10% malformed (bad JSON, wrong types, unknown model, too long), 10% that hang
   up after the first chunk, the rest streamed or whole. Checked: every well-formed
   request completes, every malformed one gets a 4xx with OpenAI's error shape, no 5xx,
   the server is alive after, and its RSS before/after.

    PYTHONPATH=src python bench/bench_serve.py [--quick] [--soak 500] [--no-reference]

Target (issue 18): >= 4x the tokens/s at 16 clients over 1 client.
Writes bench/results/bench_serve.json (with the CPU model and the load average: other
jobs share this machine, so read the figures with that in mind).
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from bench_paths import RESULTS_DIR, SHAKESPEARE

PYTHON = sys.executable
NEW_TOKENS = 128
LEVELS = (1, 4, 16)


def build(folder: Path) -> tuple[Path, Path, Path, int]:
    """(checkpoint, tokenizer.json, HF folder, parameters) of the bench model."""
    import torch

    from picochat.configs import ExportHFConfig, TokenizerTrainConfig
    from picochat.export_hf import export_hf
    from picochat.model.checkpoint import save_checkpoint
    from picochat.model.config import ModelConfig
    from picochat.model.transformer import Transformer
    from picochat.tokenizer import load_tokenizer, train_tokenizer

    tokenizer_path = folder / "tokenizer.json"
    train_tokenizer(TokenizerTrainConfig(input=SHAKESPEARE, out=tokenizer_path))
    tokenizer = load_tokenizer(str(tokenizer_path))
    torch.manual_seed(0)
    config = ModelConfig(
        vocab_size=tokenizer.vocab_size,
        n_layer=6,
        n_head=6,
        n_kv_head=6,
        n_embd=384,
        context_size=512,
    )
    model = Transformer(config)
    checkpoint = save_checkpoint(
        folder / "checkpoint", model, tokenizer_sha256=tokenizer.sha256, kind="sft"
    )
    hf = folder / "hf"
    export_hf(ExportHFConfig(checkpoint=checkpoint, tokenizer=tokenizer_path, out_dir=hf))
    return checkpoint, tokenizer_path, hf, model.num_parameters()


def start(command: list[str], port: int, log: Path, timeout: float = 300) -> subprocess.Popen:
    """Start a server; return once GET /health answers (or raise with its log's tail)."""
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    process = subprocess.Popen(command, stdout=log.open("w"), stderr=subprocess.STDOUT, env=env)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            break
        try:
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            connection.request("GET", "/health")
            if connection.getresponse().status == 200:
                return process
        except OSError:
            pass
        time.sleep(0.5)
    process.kill()
    raise RuntimeError(f"server did not start: {log.read_text()[-1500:]}")


def stream_request(port: int, body: dict, hang_up: bool = False) -> dict:
    """POST a streaming request; TTFT, text chunks, usage, status (and hang up early)."""
    started = time.perf_counter()
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=600)
    path = "/v1/chat/completions" if "messages" in body else "/v1/completions"
    connection.request("POST", path, json.dumps(body), {"Content-Type": "application/json"})
    response = connection.getresponse()
    out = {"status": response.status, "ttft": None, "tokens": 0, "done": False, "chunks": 0}
    if response.status != 200:
        out["error"] = json.loads(response.read() or b"{}")
        connection.close()
        return out
    for line in response:
        line = line.strip()
        if not line.startswith(b"data: "):
            continue
        data = line[6:]
        if data == b"[DONE]":
            out["done"] = True
            break
        chunk = json.loads(data)
        if "error" in chunk:
            out["error"] = chunk
            break
        if chunk.get("usage"):
            out["tokens"] = chunk["usage"]["completion_tokens"]
        choices = chunk.get("choices") or []
        text = choices and (
            choices[0].get("text") or (choices[0].get("delta") or {}).get("content")
        )
        if text:
            out["chunks"] += 1
            if out["ttft"] is None:
                out["ttft"] = time.perf_counter() - started
                if hang_up:
                    break
    connection.close()
    return out


def run_level(port: int, model: str, prompts: list[str], clients: int, **extra) -> dict:
    """`len(prompts)` requests from `clients` threads; aggregate tokens/s and TTFT."""
    todo = list(enumerate(prompts))
    results: list[dict] = []
    lock = threading.Lock()

    def client() -> None:
        while True:
            with lock:
                if not todo:
                    return
                _, prompt = todo.pop(0)
            body = {"model": model, "prompt": prompt, "max_tokens": NEW_TOKENS, "stream": True}
            body.update(temperature=0, stream_options={"include_usage": True}, **extra)
            result = stream_request(port, body)
            with lock:
                results.append(result)

    started = time.perf_counter()
    threads = [threading.Thread(target=client) for _ in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    wall = time.perf_counter() - started
    tokens = sum(r["tokens"] or r["chunks"] for r in results)
    ttfts = sorted(r["ttft"] for r in results if r["ttft"] is not None)
    failed = [r for r in results if r["status"] != 200 or not r["done"]]
    return {
        "clients": clients,
        "requests": len(results),
        "failed": len(failed),
        "completion_tokens": tokens,
        "wall_seconds": round(wall, 3),
        "tokens_per_second": round(tokens / wall, 1),
        "ttft_p50": round(statistics.median(ttfts), 3) if ttfts else None,
        "ttft_p95": round(ttfts[min(len(ttfts) - 1, int(0.95 * len(ttfts)))], 3) if ttfts else None,
    }


def load_levels(port: int, model: str, prompts: list[str], **extra) -> list[dict]:
    run_level(port, model, prompts[:2], 2, **extra)  # warm-up
    return [run_level(port, model, prompts, clients, **extra) for clients in LEVELS]


def generate_loop(hf: Path, prompts: list[str]) -> dict:
    """The fallback reference: transformers `generate`, one request at a time."""
    import torch
    import transformers

    tokenizer = transformers.AutoTokenizer.from_pretrained(hf)
    model = transformers.AutoModelForCausalLM.from_pretrained(hf).eval()
    tokens, started = 0, time.perf_counter()
    with torch.no_grad():
        for prompt in prompts:
            ids = tokenizer(prompt, return_tensors="pt")
            out = model.generate(
                **ids, max_new_tokens=NEW_TOKENS, min_new_tokens=NEW_TOKENS, do_sample=False
            )
            tokens += out.shape[1] - ids["input_ids"].shape[1]
    wall = time.perf_counter() - started
    return {"side": "transformers generate loop (sequential)", "completion_tokens": tokens,
            "wall_seconds": round(wall, 3), "tokens_per_second": round(tokens / wall, 1)}  # fmt: skip


def _soak_one(port: int, model: str, index: int, rng: random.Random) -> str:
    """One soak request; returns its outcome ("ok", "rejected", "hung_up", or a failure)."""
    kind = index % 10  # 0: malformed, 1: hang up, else well-formed
    text = "".join(rng.choice("abcdefgh ijklmnop") for _ in range(rng.randint(1, 300)))
    max_tokens = rng.randint(1, 64)
    if kind == 0:
        bad = [
            b"{not json",
            json.dumps({"model": model, "messages": "hi"}).encode(),
            json.dumps({"model": "nope", "prompt": "hi"}).encode(),
            json.dumps({"model": model, "prompt": "a" * 600}).encode(),
            json.dumps({"model": model, "prompt": "hi", "max_tokens": -1}).encode(),
        ][(index // 10) % 5]
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
        connection.request("POST", "/v1/completions", bad, {"Content-Type": "application/json"})
        response = connection.getresponse()
        body = json.loads(response.read() or b"{}")
        connection.close()
        shaped = set(body.get("error", {})) == {"message", "type", "param", "code"}
        return "rejected" if 400 <= response.status < 500 and shaped else f"bad->{response.status}"
    if kind == 1:
        body = {
            "model": model,
            "prompt": text,
            "max_tokens": 64,
            "stream": True,
            "ignore_eos": True,
        }
        result = stream_request(port, body, hang_up=True)
        return "hung_up" if result["status"] == 200 else f"hangup->{result['status']}"
    if index % 2:
        messages = [{"role": "user", "content": text}]
        body = {"model": model, "messages": messages, "max_tokens": max_tokens, "stream": True}
        result = stream_request(port, {**body, "temperature": 0.8, "seed": index})
        return "ok" if result["status"] == 200 and result["done"] else f"stream->{result}"
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=600)
    body = {"model": model, "prompt": text, "max_tokens": max_tokens, "temperature": 0}
    connection.request(
        "POST", "/v1/completions", json.dumps(body), {"Content-Type": "application/json"}
    )
    response = connection.getresponse()
    payload = json.loads(response.read())
    connection.close()
    ok = response.status == 200 and payload["usage"]["completion_tokens"] <= max_tokens
    return "ok" if ok else f"whole->{response.status}"


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return round(int(line.split()[1]) / 1024, 1)
    return float("nan")


def soak(port: int, model: str, process: subprocess.Popen, count: int, seconds: float) -> dict:
    rng = random.Random(0)
    outcomes: list[str] = []
    todo = list(range(count))
    lock = threading.Lock()
    deadline = time.monotonic() + seconds
    rss_before = rss_mib(process.pid)

    def client() -> None:
        local = random.Random(rng.random())
        while time.monotonic() < deadline:
            with lock:
                if not todo:
                    return
                index = todo.pop(0)
            try:
                outcome = _soak_one(port, model, index, local)
            except Exception as error:  # a failed request is a result, not a bench crash
                outcome = f"exception {type(error).__name__}: {error}"
            with lock:
                outcomes.append(outcome)

    started = time.perf_counter()
    threads = [threading.Thread(target=client) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    time.sleep(1.0)  # let the last hung-up rows be retired
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    connection.request("GET", "/health")
    health = json.loads(connection.getresponse().read())
    counts = {k: outcomes.count(k) for k in ("ok", "rejected", "hung_up")}
    failures = [o for o in outcomes if o not in counts]
    return {
        "requests_planned": count,
        "requests_done": len(outcomes),
        "seconds": round(time.perf_counter() - started, 1),
        **counts,
        "failures": failures[:20],
        "failure_count": len(failures),
        "server_alive": process.poll() is None,
        "engine_after": health.get("engines"),
        "rss_mib_before": rss_before,
        "rss_mib_after": rss_mib(process.pid),
    }


def machine() -> dict:
    cpu = subprocess.run(["lscpu"], capture_output=True, text=True).stdout
    name = next(
        (line.split(":", 1)[1].strip() for line in cpu.splitlines() if "Model name" in line), "?"
    )
    return {"cpu": name, "cores": os.cpu_count(), "load_average": os.getloadavg()}


def reference(hf: Path, prompts: list[str], port: int, folder: Path) -> dict:
    """`transformers serve` on the exported folder, or why not and a generate loop."""
    cli = shutil.which("transformers") or str(Path(PYTHON).parent / "transformers")
    command = [cli, "serve", str(hf), "--port", str(port), "--device", "cpu", "--host", "127.0.0.1"]
    try:
        process = start(command, port, folder / "transformers_serve.log", timeout=180)
    except (RuntimeError, OSError) as error:
        return {"side": "transformers serve", "ran": False, "why_not": str(error)[-800:],
                "fallback": generate_loop(hf, prompts[:4])}  # fmt: skip
    try:
        levels = load_levels(port, str(hf), prompts, ignore_eos=True)
        ok = all(level["failed"] == 0 for level in levels)
        return {
            "side": "transformers serve",
            "ran": ok,
            "command": " ".join(command),
            "levels": levels,
        }
    finally:
        process.terminate()
        process.wait(timeout=30)


def table(ours: list[dict], theirs: dict) -> str:
    rows = ["| clients | picochat serve tok/s | TTFT p50 / p95 (s) | vs 1 client | reference tok/s |",
            "|---|---|---|---|---|"]  # fmt: skip
    ref = {lvl["clients"]: lvl for lvl in theirs.get("levels", [])}
    for level in ours:
        other = ref.get(level["clients"], {}).get("tokens_per_second", "-")
        ratio = level["tokens_per_second"] / ours[0]["tokens_per_second"]
        rows.append(f"| {level['clients']} | {level['tokens_per_second']} | {level['ttft_p50']} / "
                    f"{level['ttft_p95']} | {ratio:.2f}x | {other} |")  # fmt: skip
    return "\n".join(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="32 new tokens, 50 soak requests")
    parser.add_argument("--soak", type=int, default=500)
    parser.add_argument("--soak-seconds", type=float, default=900)
    parser.add_argument("--no-reference", action="store_true")
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="bench_serve_"))
    result: dict = {"machine_before": machine()}
    checkpoint, tokenizer, hf, params = build(folder)
    result["model"] = {"parameters": params, "layers": 6, "n_embd": 384, "context": 512}
    rng = random.Random(1)
    text = SHAKESPEARE.read_text()
    starts = [rng.randrange(len(text) - 200) for _ in range(16)]
    prompts = [text[s : s + rng.randint(40, 120)] for s in starts]
    global NEW_TOKENS
    NEW_TOKENS = 32 if args.quick else NEW_TOKENS
    result["new_tokens"] = NEW_TOKENS
    port = 8765
    command = [PYTHON, "-m", "picochat", "serve", "--checkpoint", str(checkpoint), "--tokenizer",
               str(tokenizer), "--port", str(port), "--max-batch", "16", "--model-name", "bench"]  # fmt: skip
    server = start(command, port, folder / "picochat_serve.log")
    try:
        result["picochat"] = load_levels(port, "bench", prompts, ignore_eos=True)
        soak_count = 50 if args.quick else args.soak
        result["soak"] = soak(port, "bench", server, soak_count, args.soak_seconds)
    finally:
        server.terminate()
        server.wait(timeout=30)
    log = (folder / "picochat_serve.log").read_text()
    result["soak"]["server_tracebacks"] = log.count("Traceback")
    if not args.no_reference:
        result["reference"] = reference(hf, prompts, port + 1, folder)
    result["machine_after"] = machine()
    levels = result["picochat"]
    result["speedup_16_over_1"] = round(
        levels[-1]["tokens_per_second"] / levels[0]["tokens_per_second"], 2
    )
    print(table(levels, result.get("reference", {})))
    print(json.dumps({k: v for k, v in result["soak"].items() if k != "failures"}, indent=1))
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    (RESULTS_DIR / "bench_serve.json").write_text(json.dumps(result, indent=2))
    shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
