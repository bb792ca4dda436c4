"""The manifest's document list, held as arrays: ~40 bytes a document instead of ~700.

`data build` records where every kept document lies (`char_start`, `char_end`), its
source, label and row. As one dict per document that was the largest thing a
multi-GB build held; here the fields live in `array` columns and the source/label
pairs in a small table, and the rare per-document marks (`duplicate_of`,
`near_duplicate_of` with `similarity`, `contained_in`) in a dict by id.

The table reads like the list of dicts it replaces: `len`, indexing (negative too),
iteration, each item a fresh dict with the manifest's key order. `json_chunks`
(`picochat.artifacts`) writes it one document per line without building the list.

Not here: deciding what is kept (`corpus_builder.py`).
"""

from __future__ import annotations

from array import array
from collections.abc import Iterator, Sequence
from typing import Any, overload

_NO_ROW = -1


class DocumentTable(Sequence):
    """Kept documents by id (ids are positions: 0, 1, 2, ...)."""

    def __init__(self) -> None:
        self._origin = array("i")  # index into _origins
        self._origins: list[tuple[str, str]] = []  # (source, label)
        self._origin_ids: dict[tuple[str, str], int] = {}
        self._row = array("q")
        self._start = array("q")
        self._end = array("q")
        self._marks: dict[int, dict[str, Any]] = {}

    def append(self, source: str, label: str, row: int | None, start: int, end: int) -> int:
        """Record the next document; returns its id."""
        origin = self._origin_ids.setdefault((source, label), len(self._origins))
        if origin == len(self._origins):
            self._origins.append((source, label))
        self._origin.append(origin)
        self._row.append(_NO_ROW if row is None else row)
        self._start.append(start)
        self._end.append(end)
        return len(self._start) - 1

    def mark(self, doc_id: int, **fields: Any) -> None:
        """Add fields to one document (written after its span fields, in this order)."""
        self._marks.setdefault(doc_id, {}).update(fields)

    def source(self, doc_id: int) -> str:
        return self._origins[self._origin[doc_id]][0]

    def __len__(self) -> int:
        return len(self._start)

    @overload
    def __getitem__(self, index: int) -> dict[str, Any]: ...
    @overload
    def __getitem__(self, index: slice) -> list[dict[str, Any]]: ...
    def __getitem__(self, index: int | slice) -> dict[str, Any] | list[dict[str, Any]]:
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(len(self)))]
        if index < 0:
            index += len(self)
        if not 0 <= index < len(self):
            raise IndexError(f"document {index} of {len(self)}")
        source, label = self._origins[self._origin[index]]
        row = self._row[index]
        return {
            "id": index,
            "source": source,
            "label": label,
            "row": None if row == _NO_ROW else row,
            "char_start": self._start[index],
            "char_end": self._end[index],
            **self._marks.get(index, {}),
        }

    def __eq__(self, other: object) -> bool:
        """Equal to a table or list holding the same documents (as the list it replaces)."""
        if not isinstance(other, (DocumentTable, list)):
            return NotImplemented
        return len(self) == len(other) and all(a == b for a, b in zip(self, other, strict=True))

    __hash__ = None  # type: ignore[assignment]  # mutable, like a list

    def __iter__(self) -> Iterator[dict[str, Any]]:
        return (self[i] for i in range(len(self)))

    def spans(self) -> Iterator[tuple[int, int, int]]:
        """(id, char_start, char_end) of every document, without building dicts."""
        return zip(range(len(self)), self._start, self._end, strict=True)
