"""Tokenize memory per document: `data tokenize` on corpora of many short documents.

The bytes tokenized are the same per document, so what grows from the smaller corpus
to the larger one is what `data tokenize` holds per document (the document index) and
not per batch. Documents are lines of ../shared/data/tinyshakespeare.txt (~40 bytes:
0.4 M documents in 16 MB), written as data build writes them (corpus.txt and a
manifest of one entry a line); the tokenizer is a 1024-token BPE of the same text.

    python bench/bench_tokenize_documents.py --sizes 16,48 --workers 1,2

prints, for each worker count, the peak summed RSS / anonymous RSS of the process tree
(`bench_data_scale.measure`) and the growth per document between the sizes.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import random
import shutil
import subprocess
import sys
from pathlib import Path

from bench_data_scale import ENV, measure
from bench_paths import SHAKESPEARE


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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", default="16,48", help="Two corpus sizes in MB.")
    parser.add_argument("--workers", default="1,2")
    parser.add_argument("--work", type=Path, default=Path("/tmp/picochat_bench_tok_docs"))
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    tokenizer = args.work / "tokenizer.json"
    args.work.mkdir(parents=True, exist_ok=True)
    picochat = [sys.executable, "-m", "picochat.cli.main"]
    subprocess.run([*picochat, "tok", "train", "--input", SHAKESPEARE, "--out", tokenizer,
                    "--type", "bpe", "--vocab-size", "1024", "--quiet"], env=ENV, check=True)  # fmt: skip
    counts = {size: make_corpus(args.work / str(size), size) for size in sizes}
    try:
        for workers in args.workers.split(","):
            peaks = {}
            for size in sizes:
                folder = args.work / str(size)
                peaks[size] = measure([*picochat, "data", "tokenize", "--corpus", folder / "corpus.txt",
                                       "--tokenizer", tokenizer, "--corpus-manifest", folder / "corpus_manifest.json",
                                       "--workers", workers, "--rebuild", "--quiet"])  # fmt: skip
                print(f"workers {workers}: {size} MB, {counts[size]:,} documents: "
                      f"{peaks[size]['seconds']:.1f} s, peak RSS {peaks[size]['peak_rss_mb']:.0f} MB, "
                      f"anonymous {peaks[size]['peak_anon_rss_mb']:.0f} MB")  # fmt: skip
            small, large = sizes[0], sizes[-1]
            more = counts[large] - counts[small]
            for key in ("peak_rss_mb", "peak_anon_rss_mb"):
                grown = (peaks[large][key] - peaks[small][key]) * 1e6 / more
                print(f"workers {workers}: {key} grows {grown:.0f} bytes a document")
    finally:
        shutil.rmtree(args.work, ignore_errors=True)


if __name__ == "__main__":
    main()
