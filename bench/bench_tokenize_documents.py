"""Tokenize memory per document: `data tokenize` on corpora of many short documents.

The bytes tokenized are the same per document, so what grows from the smaller corpus
to the larger one is what `data tokenize` holds per document (the document index) and
not per batch. Documents are lines of ../shared/data/tinyshakespeare.txt (~40 bytes:
0.4 M documents in 16 MB), written as data build writes them (corpus.txt and a
manifest of one entry a line); the tokenizer is a 1024-token BPE of the same text.

    python bench/bench_tokenize_documents.py --sizes 16,48 --workers 1,2 [--src A,B]

prints, for each code (`--src`: source folders put first on PYTHONPATH, e.g. an old
checkout's and this one's) and worker count, the peaks of `bench_data_scale.measure`
(Pss and Pss_Anon summed over the process tree: pages the forked workers share count
once; the summed RSS / RssAnon, which count them once per process) and their growth
per document between the sizes, with the sha256 of the shards and documents.npy made;
writes bench/results/bench_tokenize_documents.json.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import shutil
import subprocess
import sys
from pathlib import Path

from bench_data_scale import ENV, measure
from bench_paths import RESULTS_DIR, ROOT, SHAKESPEARE

KEYS = ("peak_pss_mb", "peak_pss_anon_mb", "peak_rss_mb", "peak_anon_rss_mb")


def make_corpus(folder: Path, megabytes: int) -> int:
    """corpus.txt and corpus_manifest.json of single-line documents; their count."""
    folder.mkdir(parents=True, exist_ok=True)
    lines = [line for line in SHAKESPEARE.read_text(encoding="utf-8").split("\n") if line.strip()]
    rng, position, spans = random.Random(0), 0, []
    with open(folder / "corpus.txt", "w", encoding="utf-8", newline="\n") as corpus:
        while position < megabytes * 1e6:
            text = rng.choice(lines)
            if spans:
                corpus.write("\n\n")
                position += 2
            corpus.write(text)
            spans.append((position, position + len(text)))
            position += len(text)
    digest = hashlib.sha256((folder / "corpus.txt").read_bytes()).hexdigest()
    entries = ",\n".join(
        f"    {json.dumps({'id': i, 'char_start': a, 'char_end': b})}"
        for i, (a, b) in enumerate(spans)
    )
    (folder / "corpus_manifest.json").write_text(
        f'{{\n  "corpus_sha256": "{digest}",\n  "documents": [\n{entries}\n  ]\n}}\n',
        encoding="utf-8",
    )
    return len(spans)


def outputs_sha256(folder: Path) -> dict[str, str]:
    """sha256 of documents.npy and each token shard that `data tokenize` made."""
    (built,) = (folder / "token_shards").glob("tokens-*")
    files = sorted([built / "documents.npy", *built.glob("shard_*.bin")])
    return {f.name: hashlib.sha256(f.read_bytes()).hexdigest() for f in files}


def run_code(src: Path, sizes: list[int], counts: dict, args: argparse.Namespace) -> list[dict]:
    """Every worker count and size with `src` first on PYTHONPATH: a row each."""
    picochat = [sys.executable, "-m", "picochat.cli.main"]
    rows = []
    for workers in args.workers.split(","):
        peaks = {}
        for size in sizes:
            folder = args.work / str(size)
            shutil.rmtree(folder / "token_shards", ignore_errors=True)  # one folder: the one made
            load = os.getloadavg()
            peaks[size] = measure([*picochat, "data", "tokenize", "--corpus", folder / "corpus.txt",
                                   "--tokenizer", args.work / "tokenizer.json", "--corpus-manifest",
                                   folder / "corpus_manifest.json", "--workers", workers, "--rebuild",
                                   "--quiet"], env={**ENV, "PYTHONPATH": str(src)})  # fmt: skip
            peaks[size].pop("stdout")
            peaks[size].update(load_average_before=load, sha256=outputs_sha256(folder))
            print(f"{src} workers {workers}: {size} MB, {counts[size]:,} documents: "
                  f"{peaks[size]['seconds']:.1f} s, Pss {peaks[size]['peak_pss_mb']:.0f} MB "
                  f"(anonymous {peaks[size]['peak_pss_anon_mb']:.0f}), summed RSS "
                  f"{peaks[size]['peak_rss_mb']:.0f} MB (anonymous {peaks[size]['peak_anon_rss_mb']:.0f})")  # fmt: skip
        small, large = sizes[0], sizes[-1]
        more = counts[large] - counts[small]
        growth = {key: (peaks[large][key] - peaks[small][key]) * 1e6 / more for key in KEYS}
        print(f"{src} workers {workers}: bytes a document: "
              + ", ".join(f"{key} {value:.0f}" for key, value in growth.items()))  # fmt: skip
        rows.append({"src": str(src), "workers": int(workers), "bytes_a_document": growth,
                     "runs": {str(size): peaks[size] for size in sizes}})  # fmt: skip
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", default="16,48", help="Two corpus sizes in MB.")
    parser.add_argument("--workers", default="1,2")
    parser.add_argument("--src", default=str(ROOT / "src"), help="Source folders, comma-separated.")
    parser.add_argument("--work", type=Path, default=Path("/tmp/picochat_bench_tok_docs"))
    parser.add_argument(
        "--results", type=Path, default=RESULTS_DIR / "bench_tokenize_documents.json"
    )
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    tokenizer = args.work / "tokenizer.json"
    args.work.mkdir(parents=True, exist_ok=True)
    subprocess.run([sys.executable, "-m", "picochat.cli.main", "tok", "train", "--input", SHAKESPEARE,
                    "--out", tokenizer, "--type", "bpe", "--vocab-size", "1024", "--quiet"],
                   env=ENV, check=True)  # fmt: skip
    counts = {size: make_corpus(args.work / str(size), size) for size in sizes}
    result = {"benchmark": "bench_tokenize_documents", "documents": counts,
              "load_average_at_start": os.getloadavg(), "rows": []}  # fmt: skip
    try:
        for src in args.src.split(","):
            result["rows"] += run_code(Path(src), sizes, counts, args)
    finally:
        shutil.rmtree(args.work, ignore_errors=True)
    result["load_average_at_end"] = os.getloadavg()
    args.results.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {args.results}")


if __name__ == "__main__":
    main()
