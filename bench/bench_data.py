"""Corpus build throughput (MB/s) and peak memory, with near-duplicate detection on.

Builds a folder of real text: COPIES copies of ../shared/data/tinyshakespeare.txt
(about 1.1 MB each, over 20 MB in all), each copy cut into documents of 40
speeches starting at a different offset, so documents of different copies overlap
(near-duplicates) rather than repeat exactly; two copies reuse an offset, so exact
duplicates are there too. Half of the copies are one .txt file per document, half one
.jsonl file with a row per document. Each build runs `picochat data build` in a fresh
Python process so its peak RSS (VmHWM) is its own; a run at half the size shows
whether memory grows with the corpus, and a run with all copies as ONE file shows the
cost of a single large document (held whole while it is read).

Reference: `datasketch` (MinHash + MinHashLSH) when installed: near-duplicate
detection alone on the first 4 MB of documents, alternating A/B, MB/s and how many
documents each flags. Without it the reference is null with the reason (this project
does not add the dependency for a benchmark).

    python bench/bench_data.py [--copies 20] [--repeats 3]

Prints a table and writes bench/results/bench_data.json.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench_paths import RESULTS_DIR, ROOT, SHAKESPEARE

RESULTS = RESULTS_DIR / "bench_data.json"
SPEECHES_PER_DOC = 40
OFFSET_STEP = 7  # speeches; copies start their documents at different places

CHILD = r"""
import json, resource, sys, time
sys.path.insert(0, sys.argv[1])
from picochat.configs import CorpusConfig
from picochat.data.corpus import build_corpus

def peak_rss_kb():
    # VmHWM belongs to this process image; ru_maxrss can carry the parent's peak
    # across fork+exec on Linux.
    try:
        for line in open("/proc/self/status"):
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss

base = peak_rss_kb()
start, cpu_start = time.perf_counter(), time.process_time()
result = build_corpus(CorpusConfig(input=sys.argv[2], out=sys.argv[3]), write=True)
seconds, cpu_seconds = time.perf_counter() - start, time.process_time() - cpu_start
print(json.dumps({"seconds": seconds, "cpu_seconds": cpu_seconds, "rss_before_kb": base,
                  "rss_peak_kb": peak_rss_kb(), "stats": result.stats}))
"""


def make_folder(folder: Path, copies: int) -> int:
    """Write the benchmark input; returns its size in bytes."""
    import json as _json

    speeches = SHAKESPEARE.read_text(encoding="utf-8").split("\n\n")
    total = 0
    for copy in range(copies):
        # Copies 0..copies-3 get distinct offsets; the last two repeat copies 0 and 1.
        source_copy = copy if copy < copies - 2 else copy - (copies - 2)
        offset = (source_copy * OFFSET_STEP) % SPEECHES_PER_DOC
        cuts = [0, *range(offset or SPEECHES_PER_DOC, len(speeches), SPEECHES_PER_DOC)]
        docs = [
            "\n\n".join(speeches[a:b])
            for a, b in zip(cuts, [*cuts[1:], len(speeches)], strict=True)
        ]
        if copy % 2 == 0:
            target = folder / f"copy{copy:02d}"
            target.mkdir()
            for i, doc in enumerate(docs):
                path = target / f"part{i:04d}.txt"
                path.write_text(doc, encoding="utf-8")
                total += path.stat().st_size
        else:
            path = folder / f"copy{copy:02d}.jsonl"
            path.write_text("".join(_json.dumps({"text": d}) + "\n" for d in docs), "utf-8")
            total += path.stat().st_size
    return total


def run_build(folder: Path, out: Path) -> dict:
    completed = subprocess.run(
        [sys.executable, "-c", CHILD, str(ROOT / "src"), str(folder), str(out)],
        check=True,
        capture_output=True,
        text=True,
    )
    return json.loads(completed.stdout)


def _documents(folder: Path, limit_bytes: int) -> list[str]:
    from picochat.data.documents import read_documents

    docs, size = [], 0
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        for doc in read_documents(path, path.read_bytes()).documents:
            docs.append(doc.text)
            size += len(doc.text.encode())
            if size >= limit_bytes:
                return docs
    return docs


def _ours(docs: list[str], threshold: float) -> int:
    from picochat.data.dedup import MinHasher, NearDuplicateIndex, shingle_hashes, word_hashes

    hasher, index, flagged = MinHasher(), NearDuplicateIndex(threshold), 0
    for i, text in enumerate(docs):
        sig = hasher.signatures([shingle_hashes(word_hashes(text.encode())[0])])
        keys = index.band_keys(sig).tolist()[0]
        flagged += index.best_match(sig[0], keys) is not None
        index.insert(i, sig[0], keys)
    return flagged


def _datasketch(docs: list[str], threshold: float) -> int:
    from datasketch import MinHash, MinHashLSH

    lsh, flagged = MinHashLSH(threshold=threshold, num_perm=128), 0
    for i, text in enumerate(docs):
        words = text.split()
        shingles = {" ".join(words[j : j + 5]).encode() for j in range(max(1, len(words) - 4))}
        m = MinHash(num_perm=128)
        m.update_batch(list(shingles))
        flagged += bool(lsh.query(m))
        lsh.insert(str(i), m)
    return flagged


def compare_reference(folder: Path, repeats: int, limit_mb: float = 4.0) -> dict:
    """Near-duplicate detection alone, ours vs datasketch, alternating A/B on the same docs."""
    if importlib.util.find_spec("datasketch") is None:
        return {"reference": None, "reference_reason": "datasketch is not installed; the "
                "project adds no dependency for a benchmark, so only the absolute figure "
                "is reported"}  # fmt: skip
    sys.path.insert(0, str(ROOT / "src"))
    docs = _documents(folder, int(limit_mb * 1e6))
    size = sum(len(d.encode()) for d in docs) / 1e6
    times: dict[str, list[float]] = {"picochat": [], "datasketch": []}
    flagged = {}
    for _ in range(repeats):
        for name, fn in (("picochat", _ours), ("datasketch", _datasketch)):
            start = time.perf_counter()
            flagged[name] = fn(docs, 0.8)
            times[name].append(time.perf_counter() - start)
    return {
        "reference": "datasketch MinHash + MinHashLSH (128 permutations, word 5-grams)",
        "documents": len(docs),
        "mb": round(size, 2),
        "mb_per_s_median": {k: round(size / statistics.median(v), 2) for k, v in times.items()},
        "near_duplicates_flagged": flagged,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--copies", type=int, default=20)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    if not SHAKESPEARE.is_file():
        print(f"skipped: {SHAKESPEARE} not found (see COMMON.md: ../shared/data)")
        return 0
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        shapes = [(max(2, args.copies // 2), 1, "folder"), (args.copies, args.repeats, "folder"),
                  (args.copies, 1, "one file")]  # fmt: skip
        for copies, repeats, layout in shapes:
            folder = Path(tmp) / f"in{copies}{layout[0]}"
            folder.mkdir()
            if layout == "folder":
                size = make_folder(folder, copies)
            else:  # the whole text as one document: memory for a single large file
                text = SHAKESPEARE.read_text(encoding="utf-8")
                (folder / "all.txt").write_text(text * copies, encoding="utf-8")
                size = (folder / "all.txt").stat().st_size
            runs = [
                run_build(folder, Path(tmp) / f"out{copies}" / "corpus.txt") for _ in range(repeats)
            ]
            seconds = [r["seconds"] for r in runs]
            mbps = [size / 1e6 / s for s in seconds]
            cpu_mbps = [size / 1e6 / r["cpu_seconds"] for r in runs]
            stats = runs[0]["stats"]
            rows.append(
                {
                    "copies": copies,
                    "layout": layout,
                    "input_mb": round(size / 1e6, 2),
                    "files": stats["files_included"],
                    "documents": stats["documents"],
                    "duplicate_document_rate": stats["duplicate_document_rate"],
                    "near_duplicate_document_rate": stats["near_duplicate_document_rate"],
                    "repeats": repeats,
                    "seconds": [round(s, 3) for s in seconds],
                    "mb_per_s_median": round(statistics.median(mbps), 2),
                    "mb_per_s_min": round(min(mbps), 2),
                    "mb_per_s_max": round(max(mbps), 2),
                    "mb_per_cpu_s_median": round(statistics.median(cpu_mbps), 2),
                    "peak_rss_mb": round(max(r["rss_peak_kb"] for r in runs) / 1024, 1),
                    "rss_before_build_mb": round(runs[0]["rss_before_kb"] / 1024, 1),
                }
            )
            if layout == "folder" and copies == args.copies:
                reference = compare_reference(folder, args.repeats)
    header = (
        f"{'layout':>8} {'copies':>6} {'MB in':>7} {'docs':>6} {'dup%':>6} {'near%':>6} {'MB/s med':>9} "
        f"{'min..max':>13} {'MB/cpu-s':>9} {'peak RSS':>9} {'RSS before':>10}"
    )
    print(header)
    for r in rows:
        print(
            f"{r['layout']:>8} {r['copies']:>6} {r['input_mb']:>7} {r['documents']:>6} "
            f"{100 * r['duplicate_document_rate']:>6.1f} {100 * r['near_duplicate_document_rate']:>6.1f} "
            f"{r['mb_per_s_median']:>9} {r['mb_per_s_min']:>6}..{r['mb_per_s_max']:<6} "
            f"{r['mb_per_cpu_s_median']:>9} "
            f"{r['peak_rss_mb']:>7}MB {r['rss_before_build_mb']:>8}MB"
        )
    print("MB/s: wall clock; MB/cpu-s: per second of this process's CPU time (less")
    print(
        "sensitive to other processes on a shared machine). Load average at the end:",
        " ".join(f"{x:.1f}" for x in os.getloadavg()),
    )
    if reference["reference"] is None:
        print("reference:", reference["reference_reason"])
    else:
        print(
            f"near-duplicate detection alone on {reference['mb']} MB ({reference['documents']} "
            f"docs), MB/s median: {reference['mb_per_s_median']}; documents flagged: "
            f"{reference['near_duplicates_flagged']}"
        )
    result = {
        "benchmark": "corpus build, near-duplicate detection on (MinHash 128 perm, word 5-grams)",
        "machine": {
            "platform": platform.platform(),
            "processor": platform.processor(),
            "python": platform.python_version(),
        },  # fmt: skip
        "target_mb_per_s": 10,
        "load_average_after": list(os.getloadavg()),
        "cpu_count": os.cpu_count(),
        "rows": rows,
        **reference,
        "created_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {RESULTS}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
