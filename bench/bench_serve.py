"""`picochat serve` under load: batched decode throughput, time to first token, a soak.

A ~10.6M-parameter model (6 layers, n_embd 384, context 512, a char tokenizer trained on
tinyshakespeare; random weights: speed does not depend on what the weights learned) is
saved as a checkpoint and exported with `picochat export hf`. Then, over loopback:

1. `picochat serve` runs in a subprocess (max batch 16). For 1, 4 and 16 concurrent
   streaming clients (`--repeats` rounds, levels alternating; median and range), 16
   requests each level (/v1/completions, 128 new tokens,
   `ignore_eos` so every reply has the same length, greedy): aggregate decode tokens/s
   (completion tokens from `usage` / wall time of the level) and time to first token
   p50/p95; and the server's CPU seconds per level (tokens per server CPU second: the
   machine is shared, and how much of it the server got moves wall-clock tokens/s by
   +-50% between runs, not this). Sequential serving would give the same tokens/s at
   every level.
2. The same load against `transformers serve` on the exported folder (same weights,
   prompts and lengths: its copy has no end-of-sequence ids, as it refuses `ignore_eos`),
   plain and with `--continuous-batching`, when it starts here offline; otherwise the
   reason is recorded and a plain transformers `generate` loop is measured instead.
   Each side has `--reference-budget` seconds: a short probe measures its speed and a
   level that would not fit is recorded as skipped with the predicted time (levels 1
   and 4 send 4 requests; 16 sends 16).
3. Soak: `--soak` requests (default 500) from 8 client threads: mixed prompt and reply
   lengths, 10% malformed (bad JSON, wrong types, unknown model, too long), 10% that hang
   up after the first chunk, the rest streamed or whole. Checked: every well-formed
   request completes, every malformed one gets a 4xx with OpenAI's error shape, no 5xx,
   the server is alive after, and its RSS before/after.

    PYTHONPATH=src python bench/bench_serve.py [--quick] [--soak 500] [--no-reference]
        [--reference-budget 600]

Target (issue 18): >= 4x the tokens/s at 16 clients over 1 client.
Writes bench/results/bench_serve.json (with the CPU model and the load average: other
jobs share this machine, so read the figures with that in mind).
"""

from __future__ import annotations

import argparse
import http.client
import json
import random
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from bench_paths import RESULTS_DIR, SHAKESPEARE
from serve_client import budgeted_levels, load_levels, machine, rss_mib, start, stream_request

PYTHON = sys.executable
NEW_TOKENS = 128


def build(folder: Path) -> tuple[Path, Path, Path, int]:
    """(checkpoint, tokenizer.json, HF folder, parameters) of the bench model."""
    import torch

    from picochat.configs import ExportHFConfig, TokenizerTrainConfig
    from picochat.hf.export import export_hf
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


def no_eos_copy(hf: Path, folder: Path) -> Path:
    """The exported folder without end-of-sequence ids, so transformers decodes every reply
    to max_tokens like `ignore_eos` does on our side (`transformers serve` refuses that
    field)."""
    copy = folder / "hf_no_eos"
    shutil.copytree(hf, copy)
    for name in ("generation_config.json", "config.json"):
        data = json.loads((copy / name).read_text())
        data["eos_token_id"] = None
        (copy / name).write_text(json.dumps(data))
    return copy


def reference(hf: Path, prompts: list[str], port: int, folder: Path, budget: float) -> dict:
    """`transformers serve` on the exported weights (plain, then --continuous-batching),
    each within `budget` seconds (`budgeted_levels`), or why not; a plain `generate` loop
    when neither runs."""
    weights = no_eos_copy(hf, folder)
    cli = shutil.which("transformers") or str(Path(PYTHON).parent / "transformers")
    sides = {}
    for flag in ("--no-continuous-batching", "--continuous-batching"):
        command = [cli, "serve", str(weights), "--port", str(port), "--device", "cpu"]
        command += ["--host", "127.0.0.1", flag]
        log = folder / f"transformers_serve{flag}.log"
        try:
            process = start(command, port, log, timeout=180)
        except (RuntimeError, OSError) as error:
            sides[flag] = {"ran": False, "why_not": str(error)[-800:]}
            continue
        try:
            levels = budgeted_levels(port, str(weights), prompts, NEW_TOKENS, budget)
            ok = all(lvl.get("failed", 0) == 0 for lvl in [levels[0]["probe"], *levels[1:]])
            sides[flag] = {"ran": ok, "command": " ".join(command), "levels": levels}
            if not ok:
                sides[flag]["log_tail"] = log.read_text()[-800:]
        finally:
            process.terminate()
            process.wait(timeout=30)
        port += 1
    if not any(side["ran"] for side in sides.values()):
        sides["generate_loop"] = generate_loop(hf, prompts[:4])
    return sides


def table(ours: list[dict], theirs: dict) -> str:
    sides = [theirs.get(flag, {}) for flag in ("--no-continuous-batching", "--continuous-batching")]
    refs = [
        {lvl["clients"]: lvl for lvl in side.get("levels", []) if "requests" in lvl}
        if side.get("ran")
        else {}
        for side in sides
    ]
    rows = ["| clients | picochat serve tok/s | TTFT p50 / p95 (s) | vs 1 client "
            "| tok per server CPU-s | transformers serve tok/s (TTFT p50) "
            "| transformers serve --continuous-batching |",
            "|---|---|---|---|---|---|---|"]  # fmt: skip
    for level in ours:
        cells = []
        for ref in refs:
            other = ref.get(level["clients"])
            cells.append(f"{other['tokens_per_second']} ({other['ttft_p50']})" if other else "-")
        ratio = level["tokens_per_second"] / ours[0]["tokens_per_second"]
        low, high = level.get("tokens_per_second_range", [None, None])
        rows.append(f"| {level['clients']} | {level['tokens_per_second']} ({low}-{high}) | {level['ttft_p50']} / "
                    f"{level['ttft_p95']} | {ratio:.2f}x | {level.get('tokens_per_server_cpu_second')} "
                    f"| {cells[0]} | {cells[1]} |")  # fmt: skip
    return "\n".join(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="32 new tokens, 50 soak requests")
    parser.add_argument("--soak", type=int, default=500)
    parser.add_argument("--repeats", type=int, default=3, help="rounds of the three levels")
    parser.add_argument("--soak-seconds", type=float, default=900)
    parser.add_argument("--no-reference", action="store_true")
    parser.add_argument(
        "--reference-budget", type=float, default=600, help="seconds per transformers side"
    )
    parser.add_argument("--out", default="bench_serve.json", help="file name in bench/results")
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
        result["picochat"] = load_levels(
            port, "bench", prompts, NEW_TOKENS, args.repeats, server.pid, ignore_eos=True
        )
        soak_count = 50 if args.quick else args.soak
        result["soak"] = soak(port, "bench", server, soak_count, args.soak_seconds)
    finally:
        server.terminate()
        server.wait(timeout=30)
    log = (folder / "picochat_serve.log").read_text()
    result["soak"]["server_tracebacks"] = log.count("Traceback")
    if not args.no_reference:
        result["reference"] = reference(hf, prompts, port + 1, folder, args.reference_budget)
    result["machine_after"] = machine()
    levels = result["picochat"]
    result["speedup_16_over_1"] = round(
        levels[-1]["tokens_per_second"] / levels[0]["tokens_per_second"], 2
    )
    per_cpu = [level["tokens_per_server_cpu_second"] for level in levels]
    if all(per_cpu):  # the same ratio per server CPU second: what the load does not move
        result["cpu_speedup_16_over_1"] = round(per_cpu[-1] / per_cpu[0], 2)
    print(table(levels, result.get("reference", {})))
    print(json.dumps({k: v for k, v in result["soak"].items() if k != "failures"}, indent=1))
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    (RESULTS_DIR / args.out).write_text(json.dumps(result, indent=2))
    shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
