"""Turn one source file into documents (the units of dedup, spans and holdout).

- `.txt`, `.md`, `.py` (and an explicitly named file of another type): one document.
- `.jsonl`: one document per row: field `text`, else `content`, else a chat row
  (`{"user", "assistant"}` with optional `system`, or `{"messages": [...]}`) rendered
  as `User: ...\nAssistant: ...` lines. Rows with none of these (eval or preference
  rows) are left out and counted. A line that is not valid JSON is an `InputError`
  naming the file and line: a broken row is a broken file, not a quiet gap.
- `.csv`: one document per row, column `text`, else the `--text-column` column.

A `.jsonl` file over twice `SEGMENT_BYTES` is read in equal segments of whole lines of
at most about that size (`jsonl_segments`), so memory holds one segment, not the file
(`data build` scores and filters each segment as a file of its own).

A whole file is skipped, with the reason, when it is empty, binary (NUL bytes) or
not valid UTF-8. Text is normalised: a UTF-8 BOM is dropped, CRLF/CR become LF and
leading/trailing whitespace is stripped, so a document is exactly what corpus.txt
holds between its span offsets.

Not here: file discovery (sources.py), scoring (quality.py), dedup (dedup.py).
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from picochat.errors import InputError

_BINARY_SNIFF_BYTES = 8192
_CSV_FIELD_LIMIT = 2**31 - 1  # the csv default (128 KiB) rejects long documents
# A file is processed whole in memory at about 6x its size; above this, in segments.
SEGMENT_BYTES = 16 << 20


@dataclass
class Document:
    """One normalised document and where it came from (`row`: 1-based line/row)."""

    text: str
    row: int | None = None


@dataclass
class FileDocuments:
    """What a file yielded: documents, or `skip_reason` when it yields none."""

    documents: list[Document] = field(default_factory=list)
    skip_reason: str | None = None
    rows_without_text: int = 0
    note: str | None = None


class SkipFile(Exception):
    """A file that cannot give documents; the message is the reason shown to the user."""


def normalise(text: str) -> str:
    """LF newlines, no surrounding whitespace."""
    if "\r" in text:
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    return text.strip()


def decode(data: bytes) -> str:
    """Strict UTF-8 (BOM dropped); raises SkipFile for empty, binary or undecodable data."""
    if not data:
        raise SkipFile("empty file")
    if data.isspace():
        raise SkipFile("empty file (whitespace only)")
    if b"\x00" in data[:_BINARY_SNIFF_BYTES]:
        raise SkipFile("binary file (contains NUL bytes)")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise SkipFile(
            f"not valid UTF-8 (byte 0x{error.object[error.start]:02x} at offset {error.start}); "
            "re-save the file as UTF-8"
        ) from None


def render_chat(row: dict) -> str | None:
    """`User: ...\\nAssistant: ...` for a chat row, None if the row is not one."""
    messages = row.get("messages")
    if isinstance(messages, list) and messages:
        lines = []
        for message in messages:
            if isinstance(message, dict) and isinstance(message.get("content"), str):
                role = str(message.get("role", "user")).capitalize()
                lines.append(f"{role}: {message['content']}")
        return "\n".join(lines) or None
    if isinstance(row.get("user"), str) and isinstance(row.get("assistant"), str):
        lines = [f"System: {row['system']}"] if isinstance(row.get("system"), str) else []
        lines += [f"User: {row['user']}", f"Assistant: {row['assistant']}"]
        return "\n".join(lines)
    return None


def row_text(row: dict) -> str | None:
    for key in ("text", "content"):
        if isinstance(row.get(key), str):
            return row[key]
    return render_chat(row)


def jsonl_segments(path: Path, segment_bytes: int = SEGMENT_BYTES) -> Iterator[tuple[bytes, int]]:
    """(about `segment_bytes` of whole lines, the 1-based number of its first line)."""
    first_line, carry = 1, b""
    with open(path, "rb") as handle:
        while block := handle.read(segment_bytes):
            data = carry + block
            cut = data.rfind(b"\n") + 1
            if cut == 0:  # one line longer than a segment: keep reading until it ends
                carry = data
                continue
            segment, carry = data[:cut], data[cut:]
            yield segment, first_line
            first_line += segment.count(b"\n")
    if carry:
        yield carry, first_line


def _jsonl_documents(text: str, path: Path, first_line: int = 1) -> FileDocuments:
    result = FileDocuments()
    for number, line in enumerate(text.split("\n"), start=first_line):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as error:
            raise InputError(
                f"line {number} is not valid JSON ({error.msg} at column {error.colno})",
                file=path,
                line=number,
                fix="Each line of a .jsonl file must be one JSON object; fix or delete that line.",
            ) from None
        if not isinstance(row, dict):
            raise InputError(
                f"line {number} is a JSON {type(row).__name__}, not an object",
                file=path,
                line=number,
                fix='Write each row as an object, e.g. {"text": "..."}.',
            )
        content = row_text(row)
        content = normalise(content) if content is not None else ""
        if content:
            result.documents.append(Document(content, row=number))
        else:
            result.rows_without_text += 1
    if not result.documents:
        result.skip_reason = (
            f"no row has text: none of its {result.rows_without_text} rows has a `text` or "
            "`content` field or a chat form (user/assistant or messages)"
        )
    elif result.rows_without_text:
        result.note = f"{result.rows_without_text} rows without text left out"
    return result


def _csv_documents(text: str, path: Path, text_column: str | None) -> FileDocuments:
    csv.field_size_limit(_CSV_FIELD_LIMIT)
    reader = csv.reader(io.StringIO(text))
    result = FileDocuments()
    try:
        header = next(reader, None) or []
        wanted = "text" if "text" in header else text_column
        if wanted is None or wanted not in header:
            columns = ", ".join(header) or "none"
            result.skip_reason = (
                f"no `text` column{f' and no `{text_column}` column' if text_column else ''} "
                f"(columns: {columns}); pass --text-column NAME"
            )
            return result
        index = header.index(wanted)
        for cells in reader:
            content = normalise(cells[index]) if index < len(cells) else ""
            if content:
                result.documents.append(Document(content, row=reader.line_num))
            else:
                result.rows_without_text += 1
    except csv.Error as error:
        raise InputError(
            f"malformed CSV: {error}",
            file=path,
            line=reader.line_num,
            fix="Quote fields that contain commas, quotes or newlines.",
        ) from None
    if not result.documents:
        result.skip_reason = f"column `{wanted}` is empty in every row"
    elif result.rows_without_text:
        result.note = f"{result.rows_without_text} rows with an empty `{wanted}` left out"
    return result


def read_documents(
    path: Path, data: bytes, text_column: str | None = None, first_line: int = 1
) -> FileDocuments:
    """The documents of a file whose bytes are `data` (a JSONL segment: from line
    `first_line`); never raises SkipFile."""
    try:
        text = decode(data)
    except SkipFile as skip:
        return FileDocuments(skip_reason=str(skip))
    suffix = path.suffix.lower()
    if suffix == ".jsonl":
        return _jsonl_documents(text, path, first_line)
    if suffix == ".csv":
        return _csv_documents(text, path, text_column)
    content = normalise(text)
    if not content:
        return FileDocuments(skip_reason="empty file (whitespace only)")
    return FileDocuments([Document(content)])
