"""Reply text as tokens arrive: incremental decoding and OpenAI `stop` strings.

`ReplyText.add(token)` returns the new text that is safe to send. It decodes the whole
reply each time (a byte-level token can end mid-character: text ending in U+FFFD is
held back until the character completes) and holds back any tail that could still
grow into a stop string, so a stop string is never half-sent. When a stop string
appears, the reply ends before it (OpenAI: the stop sequence is not returned).

Not here: stop *tokens* (`<|end|>`, `<|eos|>`: the engine ends a row on those).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence


class ReplyText:
    """The text of one reply, sent piece by piece."""

    def __init__(self, decode: Callable[[Sequence[int]], str], stops: Sequence[str] = ()) -> None:
        self.decode = decode
        self.stops = [s for s in stops if s]
        self.ids: list[int] = []
        self.text = ""  # the reply so far (cut at a stop string once one is found)
        self.sent = 0  # characters of `text` already returned
        self.stopped = False

    def add(self, token: int) -> tuple[str, bool]:
        """(new text to send, True when a stop string ended the reply)."""
        self.ids.append(token)
        text = self.decode(self.ids)
        if text.endswith("\ufffd"):
            return "", False
        hits = [i for i in (text.find(s) for s in self.stops) if i >= 0]
        if hits:
            self.text, self.stopped = text[: min(hits)], True
            return self._take(len(self.text)), True
        self.text = text
        return self._take(len(text) - self._held_back(text)), False

    def flush(self) -> str:
        """Everything not yet sent (call once the reply has ended)."""
        if not self.stopped:
            self.text = self.decode(self.ids)
        return self._take(len(self.text))

    def _held_back(self, text: str) -> int:
        """Length of the longest tail of `text` that is a proper prefix of a stop string."""
        longest = 0
        for stop in self.stops:
            for size in range(min(len(stop) - 1, len(text)), longest, -1):
                if text.endswith(stop[:size]):
                    longest = size
                    break
        return longest

    def _take(self, end: int) -> str:
        end = max(end, self.sent)
        piece, self.sent = self.text[self.sent : end], end
        return piece
