"""Data build memory at scale: does `picochat data build` keep its memory flat?

The dedup indexes (`KeyIndex`: 33 entries of 12 bytes a document) spill sorted runs to
disk past a fixed budget, so the build's anonymous memory should not grow with the
corpus. For each size this makes (or reuses) a source folder as bench_data_scale does
(`make_source`: reshuffled tinyshakespeare paragraphs, 16 MB JSONL files), runs

    picochat data build --input SRC --out W/corpus.txt

and records wall time, peak RSS and peak anonymous RSS (sampled every 0.1 s; mapped
file pages, such as the disk runs', count in RSS but not in anonymous RSS). With
--baseline-src (another checkout's src/, e.g. `git archive main src`) the same build
runs with that code too, alternating baseline and this tree --rounds times, so load
drifts hit both alike; memory figures hold under load, wall times only roughly.

    python bench/bench_data_build_memory.py --sizes 512,2048 --work /tmp/spill \\
        [--baseline-src /tmp/spill/old/src] [--rounds 2] [--baseline-sizes 512]

Writes bench/results/bench_data_build_memory.json (with the load average at each run).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
from pathlib import Path

from bench_data_scale import ENV, make_source, measure, picochat
from bench_paths import RESULTS_DIR, ROOT

RESULTS = RESULTS_DIR / "bench_data_build_memory.json"


def build_once(source: Path, out: Path, src: Path) -> dict:
    """One `data build` with `src` first on PYTHONPATH; the corpus is removed after."""
    shutil.rmtree(out, ignore_errors=True)
    load = os.getloadavg()
    result = measure(picochat("data", "build", "--input", source, "--out", out / "corpus.txt"),
                     env={**ENV, "PYTHONPATH": str(src)})  # fmt: skip
    result.pop("stdout")
    manifest = json.loads((out / "corpus_manifest.json").read_text())
    result.update(code=str(src), load_average_before=load, load_average_after=os.getloadavg(),
                  documents=manifest["stats"]["documents"],
                  corpus_sha256=manifest["corpus_sha256"])  # fmt: skip
    shutil.rmtree(out, ignore_errors=True)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", default="512,2048", help="Source sizes in MB.")
    parser.add_argument("--work", type=Path, default=Path("/tmp/picochat_bench_build_memory"))
    parser.add_argument("--baseline-src", type=Path, help="Another checkout's src/ to compare.")
    parser.add_argument("--baseline-sizes", default="512", help="Sizes to run the baseline at.")
    parser.add_argument("--rounds", type=int, default=1, help="Alternating runs per code.")
    parser.add_argument("--results", type=Path, default=RESULTS)
    args = parser.parse_args()
    result: dict = {
        "benchmark": "bench_data_build_memory",
        "machine": {
            "platform": platform.platform(),
            "python": platform.python_version(),
            "cpu_count": os.cpu_count(),
        },  # fmt: skip
        "rows": [],
    }
    for megabytes in [int(s) for s in args.sizes.split(",")]:
        source = args.work / f"src{megabytes}"
        if not source.is_dir():
            make_source(source, megabytes)
        codes = [ROOT / "src"]
        if args.baseline_src and str(megabytes) in args.baseline_sizes.split(","):
            codes = [args.baseline_src, ROOT / "src"]
        for round_ in range(args.rounds):
            for src in codes if round_ % 2 == 0 else codes[::-1]:
                run = build_once(source, args.work / "out", src)
                run.update(megabytes=megabytes, round=round_,
                           code_name="baseline" if src == args.baseline_src else "this tree")  # fmt: skip
                result["rows"].append(run)
                args.results.write_text(json.dumps(result, indent=2, default=str) + "\n")
                print(f"{megabytes:6d} MB {run['code_name']:>9}: {run['seconds']:7.1f} s, "
                      f"peak RSS {run['peak_rss_mb']:6.0f} MB, anonymous "
                      f"{run['peak_anon_rss_mb']:6.0f} MB, load {run['load_average_before'][0]:.1f}"
                      f"-{run['load_average_after'][0]:.1f}", flush=True)  # fmt: skip
    print(f"wrote {args.results}")


if __name__ == "__main__":
    main()
