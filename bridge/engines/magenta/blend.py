"""Weighted prompts → one style conditioning for Magenta RT. Pure: no model, no I/O.

Magenta RT takes one MusicCoCa style per generate call. Several weighted prompts become
one the way the model's own C++ engine does it: weights ≤ 0 are ignored, the positive
weights are normalised, the embeddings are averaged with them, and only then quantised
to tokens. ``StyleCache`` does this with the model's ``embed`` and ``tokenize`` passed
in as plain callables (run on the model's worker thread by the engine):

* each prompt text is embedded once (the costly part) and kept;
* the blend is re-tokenised only when the texts or their weights change, so a knob that
  did not move costs nothing. (Tokens are 12 RVQ codes: a slow glide is heard in steps.)
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from bridge.core.types import WeightedPrompt

Embedding = npt.NDArray[np.float32]
Embed = Callable[[str], Any]
Tokenize = Callable[[Embedding], Any]


def blend_weights(prompts: Sequence[WeightedPrompt]) -> list[tuple[str, float]]:
    """(text, share) of every positive-weight prompt; the shares sum to 1 (empty if none).

    The same text twice counts once with the summed weight (one embedding, one share).
    """
    summed: dict[str, float] = {}
    for p in prompts:
        if p.weight > 0 and np.isfinite(p.weight):
            summed[p.text] = summed.get(p.text, 0.0) + float(p.weight)
    total = sum(summed.values())
    if total <= 0:
        return []
    return [(text, w / total) for text, w in summed.items()]


def blend(embeddings: Sequence[Embedding], shares: Sequence[float]) -> Embedding:
    """The share-weighted average of equally shaped embeddings, as float32."""
    if not embeddings or len(embeddings) != len(shares):
        raise ValueError("blend needs one share per embedding, and at least one")
    stacked = np.stack([np.asarray(e, dtype=np.float64) for e in embeddings])
    mixed = np.tensordot(np.asarray(shares, dtype=np.float64), stacked, axes=1)
    return mixed.astype(np.float32)


class StyleCache:
    """Embeddings cached per text; tokens recomputed only when the blend changes."""

    def __init__(self, embed: Embed, tokenize: Tokenize, max_texts: int = 256) -> None:
        self._embed = embed
        self._tokenize = tokenize
        self._max = max_texts
        self._embeddings: dict[str, Embedding] = {}
        self._key: tuple[tuple[str, float], ...] | None = None
        self._tokens: list[int] | None = None
        self.embeds = 0  # counters: what the cache saved is visible in tests and status
        self.tokenizes = 0

    def embedding(self, text: str) -> Embedding:
        cached = self._embeddings.get(text)
        if cached is None:
            if len(self._embeddings) >= self._max:
                # a long set cycles through many texts: forget the oldest, not all
                self._embeddings.pop(next(iter(self._embeddings)))
            cached = np.asarray(self._embed(text), dtype=np.float32)
            self._embeddings[text] = cached
            self.embeds += 1
        return cached

    def tokens(self, prompts: Sequence[WeightedPrompt]) -> list[int] | None:
        """The style tokens for ``prompts`` (None when no prompt has a positive weight)."""
        shares = blend_weights(prompts)
        if not shares:
            return None
        key = tuple(sorted(shares))
        if key != self._key or self._tokens is None:
            mixed = blend([self.embedding(t) for t, _ in shares], [s for _, s in shares])
            self._tokens = [int(t) for t in np.asarray(self._tokenize(mixed)).ravel()]
            self._key = key
            self.tokenizes += 1
        return self._tokens
