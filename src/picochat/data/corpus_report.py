"""The corpus report: blocks built from a corpus manifest, for Markdown and terminal.

`corpus_blocks(manifest)` lists what a reader needs to judge the corpus before any
training: size, duplicate and quality rates, every file with its reason and score,
what `--min-score` removed, near-duplicate pairs, documents inside other documents,
the document spans (`char_start`/`char_end` of corpus.txt), the pack's other files, and the
reminder that a small model learns only what the corpus contains. `corpus_report`
renders them as Markdown (corpus_report.md); `data preview` prints the same blocks.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from picochat.markdown import Block, Bullets, Heading, Paragraph, Table, pct, render

MAX_ROWS = 50  # rows per table in the report; the manifest lists everything

IDEA = (
    "A tiny model cannot learn what the dataset does not contain. A tiny, repeated, noisy "
    "or off-topic corpus is mostly memorised: the model copies its few documents back "
    "instead of learning the language or the facts you meant it to learn. Read the "
    "sizes, duplicate rates and quality flags below before training."
)


def _capped(rows: list, total: int | None = None) -> tuple[list, str | None]:
    total = len(rows) if total is None else total
    if total <= MAX_ROWS:
        return rows, None
    return rows[:MAX_ROWS], f"showing {MAX_ROWS} of {total:,}; corpus_manifest.json lists all"


def _size_advice(stats: dict[str, Any]) -> str:
    chars = stats["chars"]
    if chars == 0:
        return "The corpus is empty: nothing was included, so there is nothing to learn from."
    if chars < 100_000:
        size = "tiny (under 100 K characters): expect memorisation; judge on held-out documents"
    elif chars < 10_000_000:
        size = "small (under 10 M characters): enough for a toy model, watch the train/val gap"
    else:
        size = "reasonably large for a small model"
    return f"Size: {chars:,} characters in {stats['documents']:,} document(s), {size}."


def _lengths(manifest: dict[str, Any]) -> str:
    lengths = sorted(d["char_end"] - d["char_start"] for d in manifest["documents"])
    if not lengths:
        return "n/a"
    return f"{lengths[0]:,} / {lengths[len(lengths) // 2]:,} / {lengths[-1]:,}"


def segmented_files(manifest: dict[str, Any]) -> str | None:
    """A sentence on the files read in segments (segments.py); None when none was."""
    segmented = Counter(f["path"] for f in manifest["files"] if "segment" in f)
    if not segmented:
        return None
    listed = ", ".join(
        f"{path} ({count} segments of whole rows)"
        if path.lower().endswith((".jsonl", ".csv"))
        else f"{path} ({count} documents of at most 16 MB, cut at empty lines)"
        for path, count in segmented.items()
    )
    return (f"Read in segments (files over 32 MB; each segment scored as a file and listed "
            f"with its lines): {listed}.")  # fmt: skip


def _findings(manifest: dict[str, Any]) -> list[str]:
    """Plain warnings drawn from the measured rates (thresholds stated in the text)."""
    stats, found = manifest["stats"], []
    rate = stats["duplicate_document_rate"] or 0.0
    if rate > 0.05:
        found.append(f"{pct(rate)} of documents were exact duplicates (over 5%): repeated "
                     "text is what a small model memorises first.")  # fmt: skip
    rate = stats["near_duplicate_document_rate"] or 0.0
    if rate > 0.05:
        found.append(f"{pct(rate)} of documents are near-duplicates (over 5%): if copies land "
                     "on both sides of a train/validation split, validation loss overstates "
                     "generalisation.")  # fmt: skip
    contained = stats.get("contained_documents")
    if contained:
        found.append(f"{contained:,} document(s) ({pct(stats['contained_document_rate'])}) are "
                     "wholly inside another document: a split keeps each with its container, "
                     "so validation never holds text that training holds; see Containment.")  # fmt: skip
    rate = stats["duplicate_line_rate"] or 0.0
    if rate > 0.2:
        found.append(f"{pct(rate)} of non-empty lines repeat an earlier line (over 20%): "
                     "boilerplate, headers or speaker names dominate part of the text.")  # fmt: skip
    low = [f["path"] for f in manifest["files"] if f["quality_flags"] and f["included"]]
    if low:
        found.append(f"{len(low)} included file(s) carry quality flags; see the Files table.")
    if segmented := segmented_files(manifest):
        found.append(segmented)
    if stats["files_skipped"]:
        found.append(f"{stats['files_skipped']} file(s) were skipped or filtered; each reason "
                     "is listed under Skipped.")  # fmt: skip
    return found or ["No warnings from the duplicate and quality checks."]


def _contained(stats: dict[str, Any]) -> str:
    if stats.get("contained_documents") is None:
        return "not measured" + (f" ({stats['contained_documents_reason']})"
                                 if stats.get("contained_documents_reason") else "")  # fmt: skip
    return f"{stats['contained_documents']:,} ({pct(stats['contained_document_rate'])})"


def _summary(manifest: dict[str, Any]) -> list[Block]:
    stats = manifest["stats"]
    rows = [
        ["files included", stats["files_included"]],
        ["files skipped (incl. filtered)", stats["files_skipped"]],
        ["documents", stats["documents"]],
        ["characters", stats["chars"]],
        ["bytes (UTF-8)", stats["bytes"]],
        ["lines", stats["lines"]],
        ["document length, chars (min / median / max)", _lengths(manifest)],
        ["duplicate document rate (exact)", pct(stats["duplicate_document_rate"])],
        ["near-duplicate document rate", pct(stats["near_duplicate_document_rate"])],
        ["documents inside another (containment)", _contained(stats)],
        [
            "duplicate or contained document rate",
            pct(stats.get("duplicate_or_contained_document_rate")),
        ],
        ["duplicate line rate", pct(stats["duplicate_line_rate"])],
        ["empty line rate", pct(stats["empty_line_rate"])],
        ["non-ASCII character rate", pct(stats["non_ascii_rate"])],
        ["min score", manifest["min_score"]],
        ["corpus sha256", manifest["corpus_sha256"]],
    ]
    near = manifest["near_duplicates"]
    return [
        Table(["measure", "value"], rows, title="Summary", align_right=(1,)),
        Bullets(
            [
                "Duplicate document rate: documents equal to an earlier one after whitespace "
                f"normalisation, over the {stats['documents_considered']:,} documents of files "
                f"that passed --min-score; {stats['duplicates_dropped']:,} were dropped.",
                "Near-duplicate rate: kept documents whose estimated similarity to an earlier "
                f"document is at least {near['threshold']} ({near['method']}); flagged, never "
                "dropped.",
                "Line rates count the lines inside documents; duplicate lines repeat any "
                "earlier non-empty line of the corpus.",
            ]
        ),
    ]


def _sources(manifest: dict[str, Any]) -> list[Block]:
    """The dataset pack, the recipe and the per-label counts, where there are any."""
    source, blocks = manifest["source"], []
    if source["pack"]:
        rows = [[f["role"], f["path"] or "not given", f["exists"], f["rows"]]
                for f in manifest["pack_files"]]  # fmt: skip
        blocks += [
            Heading("Dataset pack"),
            Paragraph(f"`{source['pack']['name']}`: {source['pack']['description'] or '-'}"),
            Table(["role", "path", "exists", "rows"], rows,
                  title="Other files of the pack (read by SFT, eval and DPO)"),
        ]  # fmt: skip
    if source["recipe"]:
        recipe = source["recipe"]
        rows = [[s["label"], s["path"], s["files"], s["reason"] or "-"] for s in recipe["sources"]]
        blocks += [
            Heading("Recipe"),
            Paragraph(f"`{recipe['name'] or recipe['path']}`: {recipe['description'] or '-'}"),
            Table(["label", "path", "files", "reason"], rows, title="Sources"),
        ]
    if manifest["labels"]:
        rows = [[name, c["files_included"], c["files_skipped"], c["documents"], c["chars"]]
                for name, c in manifest["labels"].items()]  # fmt: skip
        headers = ["label", "files included", "files skipped", "documents", "characters"]
        blocks.append(Table(headers, rows, title="By source label", align_right=(1, 2, 3, 4)))
    return blocks


def _files(manifest: dict[str, Any]) -> list[Block]:
    """Included and skipped files, and what --min-score filtered out."""
    files = manifest["files"]
    rows, note = _capped(
        [[_file_name(f), f["label"], f["documents"], f["quality_score"],
          ", ".join(f"{k} -{v}" for k, v in f["quality_penalties"].items()) or "-", f["reason"]]
         for f in files if f["included"]]
    )  # fmt: skip
    headers = ["file", "label", "documents", "score", "flags (points lost)", "reason"]
    blocks: list[Block] = [
        Heading("Files"),
        Table(headers, rows, title="Included", note=note, align_right=(2, 3)),
    ]
    skipped = [f for f in files if not f["included"]]
    if skipped:
        rows, note = _capped(
            [[_file_name(f), f["label"], f["quality_score"], f["reason"]] for f in skipped]
        )
        blocks.append(Table(["file", "label", "score", "reason"], rows, title="Skipped", note=note))
    filtered = manifest["filtered_by_min_score"]
    blocks.append(
        Paragraph(
            f"--min-score {manifest['min_score']:g} filtered out {len(filtered)} file(s)"
            + (": " + ", ".join(f"`{p}`" for p in filtered[:MAX_ROWS]) if filtered else ".")
        )
    )
    return blocks


def _near_duplicates(manifest: dict[str, Any]) -> list[Block]:
    pairs = manifest["near_duplicates"]["pairs"]
    if not pairs:
        return []
    rows, note = _capped(
        [[p["source"], p["other_source"], p["similarity"]] for p in pairs],
        manifest["near_duplicates"]["pairs_total"],
    )
    headers = ["document from", "is similar to earlier document from", "similarity"]
    return [Heading("Near duplicates"), Table(headers, rows, note=note, align_right=(2,))]


def _containment(manifest: dict[str, Any]) -> list[Block]:
    section = manifest.get("containment") or {}
    unchecked = section.get("unchecked_documents") or 0
    skipped = (
        [Paragraph(f"{unchecked:,} document(s) were not checked: each has an anchor that "
                   "many documents share (boilerplate), so its containment is unknown.")]
        if unchecked else []
    )  # fmt: skip
    if not section.get("pairs"):
        return [Heading("Containment"), *skipped] if skipped else []
    rows, note = _capped(
        [[p["document"], p["source"], p["inside"], p["inside_source"]] for p in section["pairs"]],
        section["pairs_total"],
    )
    headers = ["document", "from", "is inside document", "from"]
    return [
        Heading("Containment"),
        Paragraph(f"Method: {section['method']}."),
        *skipped,
        Table(headers, rows, note=note, align_right=(0, 2)),
    ]


def _file_name(entry: dict[str, Any]) -> str:
    """A file's path, with the line range when a large file was read in segments."""
    return f"{entry['path']} ({entry['segment']})" if "segment" in entry else entry["path"]


def _spans(manifest: dict[str, Any]) -> list[Block]:
    """Where each document lies in corpus.txt (what document holdout splits on)."""
    documents = manifest["documents"]
    rows, note = _capped(
        [[d["id"], d["source"], d.get("row") if d.get("row") is not None else "-",
          d["char_start"], d["char_end"],
          _flag(d)] for d in documents[: MAX_ROWS + 1]],
        len(documents),
    )  # fmt: skip
    headers = ["id", "source", "row", "char_start", "char_end", "flag"]
    return [
        Heading("Documents"),
        Paragraph(
            "`corpus.txt[char_start:char_end]` is exactly each document; base "
            "pretraining holds out whole documents by these spans."
        ),  # fmt: skip
        Table(headers, rows, note=note, align_right=(0, 3, 4)),
    ]


def _flag(document: dict[str, Any]) -> str:
    if document.get("contained_in") is not None:
        return f"inside {document['contained_in']}"
    if document.get("duplicate_of") is not None:
        return f"duplicate of {document['duplicate_of']}"
    if document.get("near_duplicate_of") is not None:
        return f"near-duplicate of {document['near_duplicate_of']}"
    return "-"


def corpus_blocks(manifest: dict[str, Any]) -> list[Block]:
    """The whole report as blocks: what a reader needs to judge the corpus."""
    return [
        Heading("Corpus report", 1),
        Paragraph(IDEA),
        Paragraph(_size_advice(manifest["stats"])),
        Bullets(_findings(manifest)),
        *_summary(manifest),
        *_sources(manifest),
        *_files(manifest),
        *_near_duplicates(manifest),
        *_containment(manifest),
        *_spans(manifest),
        Heading("Quality score"),
        Paragraph(
            "Each file starts at 100 and loses the points shown per flag: "
            + ", ".join(f"`{k}` {v}" for k, v in manifest["quality_penalties"].items())
            + " (duplicate and near_duplicate scaled by the share of documents affected). "
            "See picochat/data/quality.py for the exact rules."
        ),
    ]


def corpus_report(manifest: dict[str, Any]) -> str:
    """corpus_report.md text."""
    return render(corpus_blocks(manifest))
