"""Data at scale: each data stage's wall time, MB/s and peak memory from 8 MB to 2 GB.

For each size, a folder of JSONL files (16 MB each) is made from
../shared/data/tinyshakespeare.txt: its paragraphs reshuffled into documents of 40
random paragraphs (so documents are distinct, not exact copies), repeated to size.
Then each stage runs as its own command in a child process, and the parent samples the
memory of the child and all its descendants every 0.1 s (`MEMORY_KEYS`: each key is
the largest value seen over the samples, in MB; the JSON repeats these meanings):

    peak_pss_mb          the tree's Pss summed (/proc/PID/smaps_rollup): a page shared
                         by N processes counts 1/N in each, so pages a forked tokenize
                         worker shares copy-on-write with its parent count once in all;
                         file-backed pages (the memory-mapped token shards) included
    peak_pss_anon_mb     the same for anonymous memory only (Pss_Anon): what the kernel
                         cannot drop; the honest figure for "memory the command needs"
    peak_largest_rss_mb  the RSS of the largest single process of the tree
    peak_rss_mb          RSS summed over the tree (as before): a shared page counts
                         once per process that maps it, so it overcounts forked workers
    peak_anon_rss_mb     RssAnon summed over the tree (as before): overcounts the same way

Pss comes from walking the page tables (smaps_rollup); the RSS figures from the
kernel's counters in /proc/PID/status (as psutil reads them), which lag by a few MB in
a busy threaded process, and each peak is the largest of its own samples: a one-process
stage (train base) can show Pss a little above its RSS.

    data build     picochat data build --input SRC --out W/corpus.txt (with --shard-mb N:
                   --out W/corpus --shard-mb N, a folder of shards; every later stage
                   reads the folder)
    tok train      picochat tok train --type bpe --vocab-size 4096 (default --max-train-chars)
    tokenize       picochat data tokenize --workers 1 --rebuild, then --workers 2 --rebuild
                   (1-process run only up to --compare-max-mb: the ratio does not
                   depend on size, and one process takes long at 2 GB); the ratio
                   is given for the command and for the shard build alone (the
                   index's wall_seconds: without interpreter start and hashing)
    train base     preset tiny, context 256, batch 16, --max-steps STEPS, evaluation only at
                   the start and the end, on the cached shards; time to the first step
                   (from the process start) and the step time of steps 2..STEPS; the
                   scoring after training capped at --final-val-tokens 1 M (its cost is
                   the model's, not the corpus's: 16.8 M tokens, the default, take ~10
                   minutes for this model on 2 cores)
    diagnostics    the memorisation copy-rate scan (8 snippets of 200 words) over the
                   shards' train and validation sides (copy_scale.copy_diagnostics_shards)

    python bench/bench_data_scale.py [--sizes 8,64,512,2048] [--steps 12] [--keep]

Prints a table and writes bench/results/bench_data_scale.json (with the load average:
the machine is shared, and timings taken under load are slower than they would be).
10 GB is stated as a projection: each figure extended along the line through the two
largest sizes measured (`project`), so fixed costs and memory growth both carry over.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

import psutil

from bench_paths import RESULTS_DIR, ROOT, SHAKESPEARE

RESULTS = RESULTS_DIR / "bench_data_scale.json"
PARAGRAPHS_PER_DOC = 40
FILE_BYTES = 16 << 20
PYTHON = sys.executable
ENV = {**os.environ, "PYTHONPATH": str(ROOT / "src"), "HF_HUB_OFFLINE": "1"}

TRAIN_CHILD = r"""
import json, sys, time, psutil
from pathlib import Path
from picochat.configs import BaseTrainConfig
from picochat.training.pretrain import train_base
start = psutil.Process().create_time()
times = {}
def on_step(step):
    times[step] = time.time() - start
w = Path(sys.argv[1])
config = BaseTrainConfig(corpus=w / sys.argv[3], tokenizer=w / "tokenizer.json",
    corpus_manifest=w / "corpus_manifest.json", out_dir=w / "base", preset="tiny",
    context_size=256, batch_size=16, max_steps=int(sys.argv[2]), eval_every=10**6,
    eval_batches=4, device="cpu", seed=1, final_val_tokens=1 << 20)
result = train_base(config, show_progress=False, on_step=on_step)
steps = sorted(times)
print(json.dumps({"first_step_s": times[steps[0]],
    "step_s": (times[steps[-1]] - times[steps[0]]) / max(1, len(steps) - 1),
    "train_tokens": result.report["dataset"]["train_tokens"],
    "copy_scan": result.report["memorization"].get("copy_scan")}))
"""

DIAG_CHILD = r"""
import json, random, sys, time
from pathlib import Path
from picochat.data.tokenize_shards import default_cache_root, ensure_token_shards
from picochat.tokenizer import load_tokenizer
from picochat.training.copy_scale import copy_diagnostics_shards
from picochat.training.shard_windows import split_shards
w = Path(sys.argv[1])
tok = load_tokenizer(w / "tokenizer.json")
shards = ensure_token_shards(w / sys.argv[3], w / "tokenizer.json", w / "corpus_manifest.json",
                             default_cache_root(w / sys.argv[3]), quiet=True).shards
train, val, _ = split_shards(shards, "document", 0.1, 1)
words = open(sys.argv[2]).read().split()
rng = random.Random(0)
samples = [" ".join(words[s : s + 200]) for s in (rng.randrange(len(words) - 200) for _ in range(8))]
started = time.perf_counter()
copy = copy_diagnostics_shards(samples, train, val, tok)
print(json.dumps({"seconds": time.perf_counter() - started, "train_copy_rate": copy["train_copy_rate"],
                  "heldout_overlap": copy["heldout_overlap"], "scan": copy["scan"]}))
"""


def make_source(folder: Path, megabytes: int, seed: int = 0) -> int:
    """JSONL files of reshuffled-paragraph documents, `megabytes` of text in all."""
    paragraphs = [p for p in SHAKESPEARE.read_text(encoding="utf-8").split("\n\n") if p.strip()]
    rng = random.Random(seed)
    folder.mkdir(parents=True, exist_ok=True)
    total, number = 0, 0
    while total < megabytes * 1e6:
        with open(folder / f"part_{number:05d}.jsonl", "w", encoding="utf-8") as handle:
            size = 0
            while size < FILE_BYTES and total + size < megabytes * 1e6:
                text = "\n\n".join(rng.sample(paragraphs, PARAGRAPHS_PER_DOC))
                handle.write(json.dumps({"text": text}) + "\n")
                size += len(text)
        total += size
        number += 1
    return total


MEMORY_KEYS = {
    "peak_pss_mb": "Pss summed over the process tree (shared pages split among sharers)",
    "peak_pss_anon_mb": "Pss_Anon summed over the process tree (anonymous memory, shared "
    "pages split): the memory the command needs",
    "peak_largest_rss_mb": "RSS of the largest single process of the tree",
    "peak_rss_mb": "RSS summed over the process tree: counts a page shared with forked "
    "workers once per process (overcounts)",
    "peak_anon_rss_mb": "RssAnon summed over the process tree (overcounts the same way)",
}


def measure(command: list[str], env: dict | None = None) -> dict:
    """Wall time, the peaks of `MEMORY_KEYS` over the process tree (sampled every
    0.1 s), and the stdout of `command`."""
    started = time.perf_counter()
    child = subprocess.Popen(command, env=env or ENV, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             text=True, cwd=ROOT)  # fmt: skip
    peaks = dict.fromkeys(MEMORY_KEYS, 0)

    def sample() -> None:
        proc = psutil.Process(child.pid)
        while child.poll() is None:
            try:
                tree = [p for p in [proc, *proc.children(recursive=True)] if p.is_running()]
                sampled = [_memory(p.pid) for p in tree]
                now = {key: sum(m[key] for m in sampled) for key in MEMORY_KEYS}
                now["peak_largest_rss_mb"] = max((m["peak_rss_mb"] for m in sampled), default=0)
                for key, value in now.items():
                    peaks[key] = max(peaks[key], value)
            except psutil.Error:
                pass
            time.sleep(0.1)

    watcher = threading.Thread(target=sample, daemon=True)
    watcher.start()
    out, err = child.communicate()
    watcher.join()
    if child.returncode != 0:
        raise SystemExit(f"failed ({child.returncode}): {' '.join(command)}\n{err[-3000:]}")
    memory = {key: value / 1e6 for key, value in peaks.items()}
    return {"seconds": time.perf_counter() - started, **memory, "stdout": out}


# /proc fields (kB) behind each per-process figure of MEMORY_KEYS
_PROC_FIELDS = {
    "smaps_rollup": {"Pss:": "peak_pss_mb", "Pss_Anon:": "peak_pss_anon_mb"},
    "status": {"VmRSS:": "peak_rss_mb", "RssAnon:": "peak_anon_rss_mb"},
}


def _memory(pid: int) -> dict[str, int]:
    """One process's bytes for each of `MEMORY_KEYS` (0 where it has exited)."""
    found = dict.fromkeys(MEMORY_KEYS, 0)
    for name, fields in _PROC_FIELDS.items():
        try:
            with open(f"/proc/{pid}/{name}", encoding="ascii") as proc_file:
                for line in proc_file:
                    key = fields.get(line.split(maxsplit=1)[0]) if line.strip() else None
                    if key is not None:
                        found[key] = int(line.split()[1]) * 1024
        except OSError:
            pass
    return found


def _tokenize_phase(stage: dict, w: Path) -> dict:
    """`stage` with the shard build's own wall time (the index's `wall_seconds`: encoding
    and writing, without the interpreter start, imports and content hashing)."""
    (index,) = (w / "token_shards").glob("tokens-*/index.json")
    stage["phase_seconds"] = json.loads(index.read_text(encoding="utf-8"))["wall_seconds"]
    return stage


def picochat(*args: object) -> list[str]:
    return [PYTHON, "-m", "picochat", *map(str, args)]


def run_size(
    megabytes: int,
    work: Path,
    steps: int,
    compare_max_mb: int,
    reuse: bool,
    save=lambda row: None,
    shard_mb: float | None = None,
) -> dict:
    """Every stage at one size; with `reuse`, stages whose outputs exist are not rerun;
    with `shard_mb`, the corpus is a folder of shards (`data build --shard-mb`)."""
    source, w = work / "source", work / "run"
    corpus = w / ("corpus" if shard_mb else "corpus.txt")
    shard_flags = ["--shard-mb", shard_mb] if shard_mb else []
    stages: dict = {}
    row: dict = {"megabytes": megabytes, "stages": stages, "corpus_shard_mb": shard_mb}
    if not (reuse and corpus.exists()):
        shutil.rmtree(work, ignore_errors=True)
        row["source_bytes"] = make_source(source, megabytes)
        stages["data_build"] = measure(
            picochat("data", "build", "--input", source, "--out", corpus, *shard_flags)
        )
        save(row)  # a partial row survives a later failure
        shutil.rmtree(source)  # disk: the corpus is all the later stages read
    files = sorted(corpus.iterdir()) if corpus.is_dir() else [corpus]
    row["corpus_files"] = len(files)
    size_mb = sum(f.stat().st_size for f in files) / 1e6
    row["corpus_mb"] = size_mb
    if not (reuse and (w / "tokenizer.json").is_file()):
        stages["tok_train"] = measure(picochat("tok", "train", "--input", corpus, "--out",
                                               w / "tokenizer.json", "--type", "bpe", "--vocab-size", "4096"))  # fmt: skip
        save(row)
    tokenize = picochat("data", "tokenize", "--corpus", corpus, "--tokenizer", w / "tokenizer.json",
                        "--corpus-manifest", w / "corpus_manifest.json", "--rebuild")  # fmt: skip
    if not (reuse and list((w / "token_shards").glob("tokens-*/index.json"))):
        if megabytes <= compare_max_mb:
            stages["tokenize_1proc"] = _tokenize_phase(measure([*tokenize, "--workers", "1"]), w)
        stages["tokenize_2proc"] = _tokenize_phase(measure([*tokenize, "--workers", "2"]), w)
        save(row)
    shutil.rmtree(w / "base", ignore_errors=True)
    train = measure([PYTHON, "-c", TRAIN_CHILD, str(w), str(steps), corpus.name])
    train.update(json.loads(train["stdout"].strip().splitlines()[-1]))
    stages["train_base"] = train
    save(row)
    diag = measure([PYTHON, "-c", DIAG_CHILD, str(w), str(SHAKESPEARE), corpus.name])
    diag.update(json.loads(diag["stdout"].strip().splitlines()[-1]))
    stages["diagnostics"] = diag
    for stage in stages.values():
        stage.pop("stdout", None)
        stage["mb_per_s"] = size_mb / stage["seconds"]
    shards = list((w / "token_shards").glob("tokens-*"))
    row["shard_mb"] = sum(f.stat().st_size for f in shards[0].iterdir()) / 1e6 if shards else None
    return row


def print_table(rows: list[dict]) -> None:
    names = [
        "data_build",
        "tok_train",
        "tokenize_1proc",
        "tokenize_2proc",
        "train_base",
        "diagnostics",
    ]
    print("each cell: wall s, MB/s, peak Pss/Pss_Anon summed over the process tree, MB")
    print(f"{'MB':>6} " + " ".join(f"{n:>28}" for n in names))
    for row in rows:
        cells = []
        for name in names:
            s = row["stages"].get(name)
            cells.append(
                "-"
                if s is None
                else f"{s['seconds']:7.1f}s {s['mb_per_s']:6.1f}MB/s {s['peak_pss_mb']:5.0f}MB"
                f"/{s['peak_pss_anon_mb']:.0f}"
            )
        print(f"{row['corpus_mb']:6.0f} " + " ".join(f"{c:>28}" for c in cells))
    for row in rows:
        t = row["stages"]["train_base"]
        line = f"{row['corpus_mb']:6.0f} MB: first step {t['first_step_s']:.1f} s, step {t['step_s']:.3f} s"
        if "tokenize_1proc" in row["stages"] and "tokenize_2proc" in row["stages"]:
            one, two = row["stages"]["tokenize_1proc"], row["stages"]["tokenize_2proc"]
            line += (
                f", tokenize 2 processes {one['seconds'] / two['seconds']:.2f}x one (command), "
                f"{one['phase_seconds'] / two['phase_seconds']:.2f}x (shard build)"
            )
        print(line)


def project(rows: list[dict], megabytes: float) -> tuple[dict, str]:
    """Each stage's wall time and peak memory at `megabytes`, extended along the line
    through the two largest rows (slope clamped at 0; one row: time through the origin,
    memory flat). Fixed costs (imports, a fixed number of training steps) and growth
    both carry over, instead of assuming time proportional and memory flat."""
    rows = sorted(rows, key=lambda r: r["corpus_mb"])
    last = rows[-1]
    prev = rows[-2] if len(rows) > 1 else None
    projected = {}
    for name, stage in last["stages"].items():
        values = {}
        for key in ("seconds", *MEMORY_KEYS):
            if key not in stage:
                continue
            other = prev["stages"].get(name, {}).get(key) if prev else None
            if other is None:
                slope = stage[key] / last["corpus_mb"] if key == "seconds" else 0.0
            else:
                slope = max(0.0, (stage[key] - other) / (last["corpus_mb"] - prev["corpus_mb"]))
            values[key] = round(stage[key] + slope * (megabytes - last["corpus_mb"]), 1)
        projected[name] = values
    basis = (
        f"the {prev['corpus_mb']:.0f} and {last['corpus_mb']:.0f} MB rows" if prev
        else f"the {last['corpus_mb']:.0f} MB row alone (time proportional, memory flat)"
    )  # fmt: skip
    return projected, f"each figure extended linearly from {basis}; slopes clamped at 0"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", default="8,64,512,2048", help="Corpus sizes in MB.")
    parser.add_argument("--steps", type=int, default=12)
    parser.add_argument("--compare-max-mb", type=int, default=512)
    parser.add_argument("--work", type=Path, default=Path("/tmp/picochat_bench_data_scale"))
    parser.add_argument("--keep", action="store_true", help="Keep every size's files.")
    parser.add_argument("--results", type=Path, default=RESULTS, help="Where to write the JSON.")
    parser.add_argument("--reuse", action="store_true",
                        help="Reuse a kept size's corpus, tokenizer and shards (train and scan only).")  # fmt: skip
    parser.add_argument("--shard-mb", type=float, default=None,
                        help="Build the corpus as a folder of shards of at most this many MB.")  # fmt: skip
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    free = shutil.disk_usage(args.work.parent).free
    needed = max(sizes) * 1e6 * 3.5  # source + corpus + uint16 shards (~0.6x) + margin
    if needed > free:
        raise SystemExit(
            f"need about {needed / 1e9:.1f} GB free under {args.work.parent}, have {free / 1e9:.1f}"
        )
    result = {
        "benchmark": "bench_data_scale",
        "machine": {
            "platform": platform.platform(),
            "python": platform.python_version(),
            "cpu_count": os.cpu_count(),
            "load_average_at_start": os.getloadavg(),
        },  # fmt: skip
        "settings": {
            "paragraphs_per_doc": PARAGRAPHS_PER_DOC,
            "train_steps": args.steps,
            "model": "preset tiny, context 256, batch 16",
        },  # fmt: skip
        "memory_keys": {**MEMORY_KEYS, "unit": "MB (1e6 bytes), the peak over samples every 0.1 s"},
        "rows": [],
    }
    for megabytes in sizes:

        def save(partial: dict) -> None:
            partial_result = {**result, "rows": [*result["rows"], {**partial, "partial": True}]}
            args.results.write_text(json.dumps(partial_result, indent=2, default=str) + "\n")

        row = run_size(
            megabytes, args.work / str(megabytes), args.steps, args.compare_max_mb, args.reuse,
            save, args.shard_mb,
        )  # fmt: skip
        row["load_average_after"] = os.getloadavg()
        result["rows"].append(row)
        args.results.write_text(json.dumps(result, indent=2) + "\n")
        print_table(result["rows"])
    result["projection_10gb"], result["projection_10gb_note"] = project(result["rows"], 10_000)
    result["machine"]["load_average_at_end"] = os.getloadavg()
    args.results.write_text(json.dumps(result, indent=2) + "\n")
    if not args.keep:
        shutil.rmtree(args.work, ignore_errors=True)
    print(f"wrote {args.results}")


if __name__ == "__main__":
    main()
