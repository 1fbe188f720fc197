"""Judging where a recording of the daemon's stream changed, frame for frame, through the
silence the rig inserts into it. Pure (numpy).

The daemon's ``--record`` holds exactly what its audio child played. On a busy machine
the child's small queue sometimes runs dry (the player's pump was held up longer than
the queue lasts): the child plays digital silence for the rest of that block and the
stream resumes where it was, later by as many frames (counted in the status as device
xruns, not as underruns: the player's buffer was full). Nothing of the stream is lost:
the recording is the stream with runs of exact zeros put in.

So a recording is *verbatim* up to a stream frame when, from a known alignment, every
frame matches the expected render (within ``TOLERANCE``: int16 rounding) or lies in a run
of exact silence that either is the expected sound there (near zero) or was put in: after
the run the recording goes on with the expected stream from where it stopped. Only
silence can be explained away, never sound: a recording whose sound differs from the
render (a change landing a beat late, frames dropped) stops being verbatim there.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

Array = npt.NDArray[np.float64]
Mask = npt.NDArray[np.bool_]

TOLERANCE = 3e-3  # of full scale: int16 rounding of both channels, averaged, is far below
RESUME = 2400  # frames (50 ms) that must match after a run of silence for it to be explained


@dataclass(frozen=True)
class Walk:
    """How far a recording was verbatim: ``reached``, the stream frame where the walk
    stopped; ``whole``: it stopped because it was done, not at a mismatch; the silences
    put in, as (recording index where the run began, frames put in)."""

    reached: int
    whole: bool
    gaps: tuple[tuple[int, int], ...]


def silent(stereo: npt.NDArray[np.integer]) -> Mask:
    """Frames of exact digital silence (every channel zero) of an int ``[n, channels]``."""
    return np.all(stereo == 0, axis=1)


def _run(mask: Mask, i: int) -> tuple[int, int]:
    """The run of True in ``mask`` holding index ``i``: [start, end)."""
    before = np.flatnonzero(~mask[:i])
    after = np.flatnonzero(~mask[i:])
    start = int(before[-1]) + 1 if len(before) else 0
    return start, (i + int(after[0]) if len(after) else len(mask))


def _inserted(heard: Array, expected: Array, run: tuple[int, int], offset: int) -> int | None:
    """How many frames of the silent run ``[g, h)`` of ``heard`` (stream frame
    ``index + offset`` before it) were put in: the fewest after which the recording goes
    on with the expected stream for ``RESUME`` frames, the rest of the run being the
    expected sound (near silence). None: the run is not explained."""
    g, h = run
    if h + RESUME > len(heard):
        return None
    for k in range(1, h - g + 1):
        lo = h + offset - k
        if lo < 0 or lo + RESUME > len(expected):
            return None
        if np.abs(expected[g + offset : lo]).max(initial=0.0) > TOLERANCE:
            continue  # the silence left in the stream would be sound in the render
        if np.abs(heard[h : h + RESUME] - expected[lo : lo + RESUME]).max() <= TOLERANCE:
            return k
    return None


def walk(
    heard: Array, quiet: Mask, expected: Array, at: tuple[int, int], stop: int, until: int
) -> Walk:
    """Walk ``heard`` (mono; ``quiet``: its frames of exact silence) from index ``at[0]``,
    where stream frame ``at[1]`` is heard, to index ``stop`` or stream frame ``until``,
    against the ``expected`` stream, explaining runs of silence as put in."""
    i, offset = at[0], at[1] - at[0]
    gaps: list[tuple[int, int]] = []
    while True:
        span = min(stop - i, until - (i + offset), len(expected) - (i + offset))
        if span <= 0:
            return Walk(i + offset, True, tuple(gaps))
        diff = np.abs(heard[i : i + span] - expected[i + offset : i + offset + span])
        bad = np.flatnonzero(diff > TOLERANCE)
        if not len(bad):
            return Walk(i + span + offset, True, tuple(gaps))
        i += int(bad[0])
        k = _inserted(heard, expected, _run(quiet, i), offset) if quiet[i] else None
        if k is None:
            return Walk(i + offset, False, tuple(gaps))
        gaps.append((_run(quiet, i)[0], k))
        offset -= k
        i = _run(quiet, i)[1]


def landed(
    heard: Array,
    quiet: Mask,
    at: tuple[int, int],
    stop: int,
    changed_at: Callable[[int], Array],
    lines: Iterable[int],
    margin: tuple[int, int],
) -> list[int]:
    """The ``lines`` (stream frames) the recording changed on: those whose render
    (``changed_at(line)``) it follows verbatim (``walk``) from ``at`` (recording index,
    stream frame) to ``margin[1]`` frames past the line or to recording index ``stop``.
    A line is a candidate with at least ``margin[0]`` frames walked before and after it."""
    out = []
    for line in lines:
        if line - at[1] < margin[0]:
            continue
        got = walk(heard, quiet, changed_at(line), at, stop, line + margin[1])
        if got.whole and got.reached - line >= margin[0]:
            out.append(line)
    return out
