"""Reply text as tokens arrive: incremental decoding and OpenAI `stop` strings.

`ReplyText.add(token)` returns the new text that is safe to send. A byte-level token
can end mid-character: text ending in U+FFFD is held back until the character
completes. Decoding is incremental (the scheme of vLLM's detokenizer): only the tokens
since the last sent piece are decoded, together with the piece before them, and the
new text is what that window adds to the piece alone, so a tokenizer that spells a
token differently after another (a SentencePiece leading space) still reads right and
a 2,000-token reply costs 2,000 short decodes, not 2,000 decodes of the whole reply.
A tail that could still grow into a stop string is held back, so a stop string is
never half-sent; only the new text (and the few characters before it) is searched.
When a stop string appears, the reply ends before it (OpenAI: the stop sequence is
not returned).

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
        self._decoded = ""  # decode(ids[:_read]), never cut
        self._prefix = self._read = 0  # the decoding window starts at _prefix

    def add(self, token: int) -> tuple[str, bool]:
        """(new text to send, True when a stop string ended the reply)."""
        self.ids.append(token)
        head = self.decode(self.ids[self._prefix : self._read])
        window = self.decode(self.ids[self._prefix :])
        if window.endswith("\ufffd"):
            return "", False
        searched = len(self._decoded)
        if window.startswith(head):
            self._decoded += window[len(head) :]
        else:  # the window reads differently from the whole: decode it all once
            self._decoded = self.decode(self.ids)
            searched = 0
        self._prefix, self._read = self._read, len(self.ids)
        text = self._decoded
        starts = (text.find(s, max(0, searched - len(s) + 1)) for s in self.stops)
        hits = [i for i in starts if i >= 0]
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
