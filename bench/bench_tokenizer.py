"""BPE training time and encoding speed: Picochat vs Hugging Face `tokenizers`.

Corpus: about 10 MB made of ../shared/data/tinyshakespeare.txt repeated with variation
(each copy has its paragraphs shuffled and a different 5% of its distinct words turned
into variants: plural, past tense, capitalised, upper case...), so the distinct-word
count grows like real text instead of repeating exactly.

Both sides train at the same vocab size (4096, special tokens included) and minimum
frequency on the same words: the GPT-4 split regex then the ByteLevel byte mapping, fed
the same 1 MB pieces (`picochat.tokenizer.bpe.text_pieces`, cut where pre-tokenisation
is unaffected). Training runs alternate Picochat / HF, `--repeats` times each; the
table shows the median and the spread (min-max). Encoding is timed on the whole corpus
with a fresh tokenizer (cold per-word cache) for Picochat's `encode_array`, and with
HF's `encode_batch` over the pieces (parallel over cores) for reference. The ids of
both encoders are compared on the whole corpus.

Targets (issue 3): Picochat training < 25 s and within 10x of HF; encoding >= 2 MB/s.

    python bench/bench_tokenizer.py [--megabytes 10] [--vocab-size 4096] [--repeats 3]

Prints a table and writes bench/results/bench_tokenizer.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import statistics
import sys
import time

from bench_paths import RESULTS_DIR, ROOT, SHAKESPEARE

sys.path.insert(0, str(ROOT / "src"))

from picochat.tokenizer import BPETokenizer  # noqa: E402
from picochat.tokenizer.bpe import GPT4_SPLIT_PATTERN, text_pieces  # noqa: E402
from picochat.tokenizer.bpe_train import count_words, train_bpe  # noqa: E402
from picochat.tokenizer.special import SPECIAL_TOKENS  # noqa: E402

RESULTS = RESULTS_DIR / "bench_tokenizer.json"
VARIANTS = (
    lambda w: w + "s",
    lambda w: w + "ed",
    lambda w: w + "ing",
    lambda w: w.capitalize(),
    lambda w: w.upper(),
    lambda w: w[::-1],
)


def make_corpus(megabytes: float, seed: int = 0) -> str:
    import re

    base = SHAKESPEARE.read_text(encoding="utf-8")
    words = sorted(set(re.findall(r"[A-Za-z]+", base)))
    rng = random.Random(seed)
    copies = []
    while sum(len(c) for c in copies) < megabytes * 1e6:
        paragraphs = base.split("\n\n")
        rng.shuffle(paragraphs)
        table = {w: rng.choice(VARIANTS)(w) for w in rng.sample(words, len(words) // 20)}
        text = "\n\n".join(paragraphs)
        copies.append(re.sub(r"[A-Za-z]+", lambda m, t=table: t.get(m.group(), m.group()), text))
    return "\n\n".join(copies)


def train_picochat(pieces: list[str], vocab_size: int, min_freq: int) -> tuple[float, list]:
    start = time.perf_counter()
    learned = train_bpe(count_words(pieces), vocab_size=vocab_size, min_freq=min_freq)
    seconds = time.perf_counter() - start
    tok = BPETokenizer(learned.merged_tokens, learned.merges)
    merges = [(tok.id_to_token(a), tok.id_to_token(b)) for a, b in tok.merges]
    return seconds, merges


def train_hf(pieces: list[str], vocab_size: int, min_freq: int):
    from tokenizers import Regex, Tokenizer, models, pre_tokenizers, trainers

    hf = Tokenizer(models.BPE())
    hf.pre_tokenizer = pre_tokenizers.Sequence(
        [
            pre_tokenizers.Split(Regex(GPT4_SPLIT_PATTERN), behavior="isolated"),
            pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
        ]
    )
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        min_frequency=min_freq,
        special_tokens=list(SPECIAL_TOKENS),
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    start = time.perf_counter()
    hf.train_from_iterator(pieces, trainer)
    seconds = time.perf_counter() - start
    merges = [tuple(m) for m in json.loads(hf.to_str())["model"]["merges"]]
    return seconds, merges


def summary(values: list[float]) -> dict:
    return {
        "median": statistics.median(values),
        "min": min(values),
        "max": max(values),
        "runs": values,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--megabytes", type=float, default=10.0)
    parser.add_argument("--vocab-size", type=int, default=4096)
    parser.add_argument("--min-freq", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    if not SHAKESPEARE.is_file():
        print(f"skipped: {SHAKESPEARE} not found (see COMMON.md: ../shared/data)")
        return 0
    import tokenizers
    from tokenizers import Tokenizer

    corpus = make_corpus(args.megabytes)
    megabytes = len(corpus.encode("utf-8")) / 1e6
    pieces = text_pieces(corpus)
    distinct_words = len(count_words(pieces))
    print(f"corpus: {megabytes:.2f} MB, {len(pieces)} pieces, {distinct_words:,} distinct words")

    ours_s, theirs_s = [], []
    for _ in range(args.repeats):  # alternate A/B so drifting machine load hits both
        seconds, our_merges = train_picochat(pieces, args.vocab_size, args.min_freq)
        ours_s.append(seconds)
        seconds, hf_merges = train_hf(pieces, args.vocab_size, args.min_freq)
        theirs_s.append(seconds)
    first_difference = next(
        (i for i, (a, b) in enumerate(zip(our_merges, hf_merges, strict=False)) if a != b), None
    )

    # Encoding: one tokenizer.json, both encoders, cold caches.
    learned = train_bpe(count_words(pieces), vocab_size=args.vocab_size, min_freq=args.min_freq)
    document = BPETokenizer(learned.merged_tokens, learned.merges).to_json()
    enc_ours, enc_theirs = [], []
    for _ in range(args.repeats):
        ours = BPETokenizer(learned.merged_tokens, learned.merges)
        start = time.perf_counter()
        our_ids = ours.encode_array(corpus)
        enc_ours.append(megabytes / (time.perf_counter() - start))
        hf = Tokenizer.from_str(document)
        start = time.perf_counter()
        encodings = hf.encode_batch(pieces)
        enc_theirs.append(megabytes / (time.perf_counter() - start))
    hf_ids = [i for e in encodings for i in e.ids]
    ids_identical = hf_ids == our_ids.tolist()

    train = {"picochat": summary(ours_s), "hf": summary(theirs_s)}
    ratio = train["picochat"]["median"] / train["hf"]["median"]
    encode = {"picochat_mb_per_s": summary(enc_ours), "hf_mb_per_s": summary(enc_theirs)}
    result = {
        "benchmark": "bench_tokenizer",
        "machine": {
            "platform": platform.platform(),
            "python": platform.python_version(),
            "cpu_count": os.cpu_count(),
            # timings from a busy machine are not comparable with a quiet one's
            "load_average_1min_at_start": os.getloadavg()[0],
            "tokenizers": tokenizers.__version__,
        },
        "corpus": {
            "megabytes": round(megabytes, 3),
            "pieces": len(pieces),
            "distinct_words": distinct_words,
            "source": "tinyshakespeare.txt repeated with shuffled paragraphs and word variants",
        },
        "vocab_size": args.vocab_size,
        "min_freq": args.min_freq,
        "repeats": args.repeats,
        "train_seconds": train,
        "train_ratio_picochat_over_hf": ratio,
        "merges": len(our_merges),
        "merges_identical_to_hf": our_merges == hf_merges,
        "first_merge_difference": first_difference,
        "encode": encode,
        "encode_ids_identical": ids_identical,
        "encode_time_ratio_picochat_over_hf": encode["hf_mb_per_s"]["median"]
        / encode["picochat_mb_per_s"]["median"],
        "targets": {
            "train_under_25_s": train["picochat"]["median"] < 25,
            "train_within_10x_of_hf": ratio <= 10,
            "encode_at_least_2_mb_per_s": encode["picochat_mb_per_s"]["median"] >= 2,
        },
    }

    def spread(s: dict, unit: str) -> str:
        return f"{s['median']:.2f} {unit} ({s['min']:.2f}-{s['max']:.2f})"

    print(
        f"\n| measure (median, min-max of {args.repeats}) | Picochat | HF tokenizers "
        "| time ratio Picochat / HF |"
    )
    print("|---|---|---|---|")
    print(
        f"| BPE training, vocab {args.vocab_size} | {spread(train['picochat'], 's')} | "
        f"{spread(train['hf'], 's')} | {ratio:.2f} |"
    )
    print(
        f"| encoding {megabytes:.1f} MB | {spread(encode['picochat_mb_per_s'], 'MB/s')} | "
        f"{spread(encode['hf_mb_per_s'], 'MB/s')} | "
        f"{result['encode_time_ratio_picochat_over_hf']:.2f} |"
    )
    print(
        f"\nmerges identical to HF: {result['merges_identical_to_hf']} "
        f"(first difference at {first_difference}); encoded ids identical: {ids_identical}"
    )
    print("targets:", json.dumps(result["targets"]))
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {RESULTS.relative_to(ROOT)}")
    return 0 if ids_identical else 1


if __name__ == "__main__":
    sys.exit(main())
