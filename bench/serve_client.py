"""Load-generation helpers of bench_serve.py: start a server, stream requests over loopback
(time to first token, completion tokens from `usage`), run a level of concurrent clients,
read a process's RSS and the machine's description."""

from __future__ import annotations

import http.client
import json
import os
import statistics
import subprocess
import threading
import time
from pathlib import Path

LEVELS = (1, 4, 16)


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
    out["finished"] = False  # a finish_reason was sent ("done": so was `data: [DONE]`)
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
        out["finished"] |= any(c.get("finish_reason") for c in choices)
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


def cpu_seconds(pid: int | None) -> float:
    """CPU time (user + system, every thread) a process has used so far; 0 without a pid."""
    if pid is None:
        return 0.0
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def run_level(
    port: int,
    model: str,
    prompts: list[str],
    clients: int,
    new_tokens: int,
    pid: int | None = None,
    **extra,
) -> dict:
    """`len(prompts)` requests from `clients` threads; aggregate tokens/s and TTFT, and
    with the server's `pid` its CPU seconds: tokens per server CPU second does not
    depend on how much of the shared machine the server got, wall-clock tokens/s does."""
    todo = list(enumerate(prompts))
    results: list[dict] = []
    lock = threading.Lock()

    def client() -> None:
        while True:
            with lock:
                if not todo:
                    return
                _, prompt = todo.pop(0)
            body = {"model": model, "prompt": prompt, "max_tokens": new_tokens, "stream": True}
            body.update(temperature=0, stream_options={"include_usage": True}, **extra)
            result = stream_request(port, body)
            with lock:
                results.append(result)

    started, cpu_before = time.perf_counter(), cpu_seconds(pid)
    own_before = time.process_time()
    threads = [threading.Thread(target=client) for _ in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    wall = time.perf_counter() - started
    server_cpu = cpu_seconds(pid) - cpu_before
    tokens = sum(r["tokens"] or r["chunks"] for r in results)
    ttfts = sorted(r["ttft"] for r in results if r["ttft"] is not None)
    failed = [r for r in results if r["status"] != 200 or not r["finished"]]
    return {
        "clients": clients,
        "requests": len(results),
        "failed": len(failed),
        "first_failure": failed[0] if failed else None,
        "mean_completion_tokens": round(tokens / max(1, len(results)), 1),
        "completion_tokens": tokens,
        "wall_seconds": round(wall, 3),
        "tokens_per_second": round(tokens / wall, 1),
        "ttft_p50": round(statistics.median(ttfts), 3) if ttfts else None,
        "ttft_p95": round(ttfts[min(len(ttfts) - 1, int(0.95 * len(ttfts)))], 3) if ttfts else None,
        "server_cpu_seconds": round(server_cpu, 2) if pid else None,
        "tokens_per_server_cpu_second": round(tokens / server_cpu, 1)
        if pid and server_cpu
        else None,
        "client_cpu_seconds": round(time.process_time() - own_before, 2),
        "load_average_1min": round(os.getloadavg()[0], 2),
    }


def load_levels(
    port: int,
    model: str,
    prompts: list[str],
    new_tokens: int,
    repeats: int = 1,
    pid: int | None = None,
    **extra,
) -> list[dict]:
    """Each level `repeats` times, the levels alternating (1, 4, 16, 1, 4, 16, ...) so a
    change in the machine's load hits every level alike; per level the median tokens/s
    with its min-max, the median TTFT p50/p95, and every round's figures."""
    run_level(port, model, prompts[:2], 2, new_tokens, **extra)  # warm-up
    rounds = [
        [run_level(port, model, prompts, clients, new_tokens, pid, **extra) for clients in LEVELS]
        for _ in range(repeats)
    ]
    levels = []
    for index, clients in enumerate(LEVELS):
        runs = [r[index] for r in rounds]
        rates = [run["tokens_per_second"] for run in runs]
        levels.append(
            {
                "clients": clients,
                "requests": sum(run["requests"] for run in runs),
                "failed": sum(run["failed"] for run in runs),
                "tokens_per_second": statistics.median(rates),
                "tokens_per_second_range": [min(rates), max(rates)],
                "ttft_p50": statistics.median(run["ttft_p50"] for run in runs),
                "ttft_p95": statistics.median(run["ttft_p95"] for run in runs),
                "tokens_per_server_cpu_second": _median(runs, "tokens_per_server_cpu_second"),
                "rounds": runs,
            }
        )
    return levels


def _median(runs: list[dict], key: str) -> float | None:
    values = [run[key] for run in runs if run.get(key) is not None]
    return statistics.median(values) if values else None


def budgeted_levels(
    port: int, model: str, prompts: list[str], new_tokens: int, budget: float
) -> list[dict]:
    """The levels of a slow reference server within `budget` seconds: a 16-token probe
    measures its speed; a level whose predicted time (its tokens at the probe's rate, no
    batching gain assumed) does not fit what is left is recorded as skipped, with the
    prediction. Levels 1 and 4 send 4 requests, level 16 sends 16."""
    started = time.perf_counter()
    probe = run_level(port, model, prompts[:1], 1, 16)
    rate = max(probe["tokens_per_second"], 1e-6)
    levels: list[dict] = [{"probe": probe}]
    for clients, count in ((1, 4), (4, 4), (16, 16)):
        predicted = count * new_tokens / rate
        left = budget - (time.perf_counter() - started)
        if predicted > left:
            levels.append(
                {"clients": clients, "skipped": f"predicted {predicted:.0f} s > {left:.0f} s left"}
            )
            continue
        levels.append(run_level(port, model, prompts[:count], clients, new_tokens))
    return levels


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return round(int(line.split()[1]) / 1024, 1)
    return float("nan")


def machine() -> dict:
    cpu = subprocess.run(["lscpu"], capture_output=True, text=True).stdout
    name = next(
        (line.split(":", 1)[1].strip() for line in cpu.splitlines() if "Model name" in line), "?"
    )
    return {"cpu": name, "cores": os.cpu_count(), "load_average": os.getloadavg()}
