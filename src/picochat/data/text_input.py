"""Is this input file UTF-8 text? Checked before a stage reads it with `errors="replace"`.

Readers that must not stop on one odd byte in a large corpus decode with replacement;
a whole file in another encoding (Latin-1) or a binary file then turns into noise and
fails later with a misleading message ("no sentence found") or, worse, is scored. This
check streams the file once (1 MiB chunks, an incremental decoder: memory stays flat)
and names the line of the first byte that is not UTF-8, or a NUL byte (binary).
"""

from __future__ import annotations

import codecs
from pathlib import Path

from picochat.errors import InputError

_CHUNK = 1 << 20


def require_utf8_text(path: str | Path, *, what: str) -> Path:
    """`path` if it is a UTF-8 text file; an InputError naming the line otherwise."""
    path = Path(path)
    decoder = codecs.getincrementaldecoder("utf-8")()
    line = 1
    with open(path, "rb") as handle:
        while chunk := handle.read(_CHUNK):
            if b"\0" in chunk:
                line += chunk[: chunk.index(b"\0")].count(b"\n")
                raise InputError(
                    f"The {what} is a binary file (a NUL byte on line {line}), not text.",
                    file=path,
                    line=line,
                    fix=f"Pass a UTF-8 text file as the {what}.",
                )
            try:
                decoder.decode(chunk)
            except UnicodeDecodeError as error:
                line += chunk[: error.start].count(b"\n")
                raise InputError(
                    f"The {what} is not UTF-8 text (byte {error.object[error.start]:#04x} on "
                    f"line {line}); it may be Latin-1 or another encoding.",
                    file=path,
                    line=line,
                    fix="Convert it to UTF-8 (e.g. `iconv -f latin1 -t utf-8`), or build it "
                    "with `picochat data build`, which skips undecodable files.",
                ) from None
            line += chunk.count(b"\n")
    return path
