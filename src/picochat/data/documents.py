"""Turn one source file into documents (the units of dedup, spans and holdout).

- `.txt`, `.md`, `.py` (and an explicitly named file of another type): one document.
- `.jsonl`: one document per row: field `text`, else `content`, else a chat row
  (`{"user", "assistant"}` with optional `system`, or `{"messages": [...]}`) rendered
  as `User: ...\nAssistant: ...` lines. Rows with none of these (eval or preference
  rows) are left out and counted. A line that is not valid JSON is an `InputError`
  naming the file and line: a broken row is a broken file, not a quiet gap.
- `.csv`: one document per row, column `text`, else the `--text-column` column. Lines
  end in LF, CRLF or a CR alone (old Mac), mixed too, and are numbered so; a quote
  still open at the end of the file is an `InputError` naming the row it opened in
  (read on, the rest of the file would be one cell).

A file over 32 MB is read in segments of at most 16 MB (segments.py), so memory holds
one segment, not the file: a `.jsonl` or `.csv` file in whole rows, and a text file cut
at empty lines, each segment then one document (a multi-GB text dump is a stream of
text, not one document). `data build` scores and filters each segment as a file.

A whole file is skipped, with the reason, when it is empty, binary (NUL bytes) or
not valid UTF-8 (a segment of a large file: the segment). Text is normalised: a UTF-8
BOM at the file start is dropped, CRLF/CR become LF and
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

BINARY_SNIFF_BYTES = 8192
_CSV_FIELD_LIMIT = 2**31 - 1  # the csv default (128 KiB) rejects long documents
UNCLOSED_QUOTE_FIX = (
    'Close the quote (a quote inside a quoted cell is written twice: ""), or remove it.'
)


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


def sniff_binary(head: bytes) -> None:
    """Raises SkipFile when the file's first bytes hold a NUL (a binary file)."""
    if b"\x00" in head[:BINARY_SNIFF_BYTES]:
        raise SkipFile("binary file (contains NUL bytes)")


def not_utf8(byte: int, offset: int) -> SkipFile:
    """The skip for a file (or segment) with a byte that is not UTF-8 at file `offset`."""
    return SkipFile(
        f"not valid UTF-8 (byte 0x{byte:02x} at offset {offset}); re-save the file as UTF-8"
    )


def decode(data: bytes, offset: int = 0) -> str:
    """Strict UTF-8; raises SkipFile for empty, binary or undecodable data. `offset`:
    where `data` starts in its file (a segment: no BOM and no NUL sniff past the start)."""
    if not data:
        raise SkipFile("empty file")
    if data.isspace():
        raise SkipFile("empty file (whitespace only)" if offset == 0 else "whitespace only")
    if offset == 0:
        sniff_binary(data)
    try:
        return data.decode("utf-8-sig" if offset == 0 else "utf-8")
    except UnicodeDecodeError as error:
        raise not_utf8(error.object[error.start], offset + error.start) from None


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


class _Lines:
    """The lines of `text` as the csv module wants them: universal newlines (LF, CRLF
    or a CR alone, as old Mac files end lines), line ends kept. Counts the characters
    handed out (`read`) and notes when the text ran out (`ended`)."""

    def __init__(self, text: str) -> None:
        self.lines = io.StringIO(text, newline="")
        self.read, self.ended = 0, False

    def __iter__(self) -> Iterator[str]:
        for line in self.lines:
            self.read += len(line)
            yield line
        self.ended = True


class CsvRows:
    """The text cells of the CSV rows in `text`, read by the csv module (a quoted cell
    may span lines; lines end in LF, CRLF or CR). `header_of`: a reader of an earlier
    part of the same file (segments.py), whose text column this part uses; its lines
    then start at `first_line`. `final`: `text` runs to the end of the file.

    Raises SkipFile when the header has no text column; iterating yields a Document per
    row (`row`: the line the row ends on) or None for an empty cell, and raises
    InputError naming the line of malformed CSV or of a quote never closed. When not
    `final`, a row whose quoted cell is still open at the end of `text` is not yielded:
    `open_row` is the line it starts on, and `end`/`last` (characters, line) mark the
    end of the rows before it.
    """

    def __init__(
        self,
        path: Path,
        text: str,
        text_column: str | None,
        header_of: CsvRows | None = None,
        first_line: int = 1,
        final: bool = True,
    ) -> None:
        csv.field_size_limit(_CSV_FIELD_LIMIT)
        self.path, self.before, self.final = path, first_line - 1, final
        self.lines = _Lines(text)
        self.reader = csv.reader(self.lines)
        self.open_row: int | None = None
        self.end, self.last = 0, self.before
        if header_of is not None:
            self.column, self.index = header_of.column, header_of.index
            return
        try:
            header = next(self.reader, None) or []
        except csv.Error as error:
            raise self._malformed(error) from None
        if self._ran_out(1):  # a header with a quoted cell still open at the end of `text`
            return
        self.end, self.last = self.lines.read, self.line
        self.column = "text" if "text" in header else text_column
        if self.column is None or self.column not in header:
            columns = ", ".join(header) or "none"
            raise SkipFile(
                f"no `text` column{f' and no `{text_column}` column' if text_column else ''} "
                f"(columns: {columns}); pass --text-column NAME"
            )
        self.index = header.index(self.column)

    @property
    def line(self) -> int:
        """The line the last row read ends on (1-based, from the file start)."""
        return self.before + self.reader.line_num

    def __iter__(self) -> Iterator[Document | None]:
        if self.open_row is not None:
            return
        try:
            for cells in self.reader:
                if self._ran_out(self.last + 1):
                    return
                self.end, self.last = self.lines.read, self.line
                content = normalise(cells[self.index]) if self.index < len(cells) else ""
                yield Document(content, row=self.line) if content else None
        except csv.Error as error:
            raise self._malformed(error) from None

    def _ran_out(self, start: int) -> bool:
        """Whether the row just read (starting on line `start`) ran to the end of the
        text inside a quoted cell: the csv module ends a row at a line end unless a
        quote is open, so a row it gives after the text ran out is an open quote. At the
        file end that is an InputError (the rest of the file would be one cell)."""
        if not self.lines.ended:
            return False
        if self.final:
            raise InputError(
                f"the row that starts on line {start} opens a quoted cell that never closes",
                file=self.path,
                line=start,
                fix=UNCLOSED_QUOTE_FIX,
            )
        self.open_row = start
        return True

    def _malformed(self, error: csv.Error) -> InputError:
        return InputError(
            f"malformed CSV: {error}",
            file=self.path,
            line=self.line,
            fix="Quote fields that contain commas, quotes or newlines.",
        )

    def summary(self, result: FileDocuments) -> FileDocuments:
        """`result` with the skip reason (no row has text) or the note on empty rows."""
        if not result.documents:
            result.skip_reason = f"column `{self.column}` is empty in every row"
        elif result.rows_without_text:
            result.note = f"{result.rows_without_text} rows with an empty `{self.column}` left out"
        return result


def _csv_documents(text: str, path: Path, text_column: str | None) -> FileDocuments:
    try:
        rows = CsvRows(path, text, text_column)
    except SkipFile as skip:
        return FileDocuments(skip_reason=str(skip))
    result = FileDocuments()
    for document in rows:
        if document is None:
            result.rows_without_text += 1
        else:
            result.documents.append(document)
    return rows.summary(result)


def read_documents(
    path: Path, data: bytes, text_column: str | None = None, first_line: int = 1, offset: int = 0
) -> FileDocuments:
    """The documents of a file whose bytes are `data` (a JSONL segment: from line
    `first_line`, byte `offset`); never raises SkipFile."""
    try:
        text = decode(data, offset)
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
