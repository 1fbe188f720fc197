"""Judging a MIDI clock against the heard audio on a JACK capture with gaps. Pure (numpy).

The daemon sends its clock on real time (``time.monotonic``) and follows the audio as it
is heard in real time. On a busy machine the rig's capture is not one clean line:

1. JACK's dummy driver stalls: its frames lose milliseconds against real time and never
   catch up. What is heard is that much later; the ticks sent meanwhile arrive together
   in the next cycle.
2. The daemon's audio child misses cycles: the stream is heard a period later.
3. The capture client misses a cycle (its block and that cycle's MIDI are lost) or
   stamps a block a period early.

So everything is judged on real time: a JACK frame's real time is read from the capture's
cycle stamps (``cycle_lag``). What is heard shifts later by each stall and slip; under
10 ms (the heard grid's tolerance) the daemon's clock follows smoothly, beyond it the
daemon re-anchors its grid and the clock renumbers its ticks from the new grid
(``bridge.core.clock`` rule 2). The capture is cut into *stretches* at those jumps, found
from the audio and the cycle stamps, never from the ticks. Inside the stretches the
clock's tempo (one slope of tick time against tick number, an offset per stretch) is
compared with the heard tempo (one slope of stream frame against time, likewise), and
each stretch's beat ticks with the heard beats.

Which of the 24 ticks is the beat is found per stretch (the capture begins mid-stream,
after the Start), so a clock more than half a tick (10.4 ms at 120 bpm) off *throughout*
a stretch reads as the neighbouring tick: a blind spot the rig shares with any judgement
of a clock picked up mid-stream.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from bridge.core.heard import TOLERANCE

Array = npt.NDArray[np.float64]
Index = npt.NDArray[np.int64]

ENVELOPE = 20  # cycles: the window of the lower envelope of the cycles' lateness
STALL = 1e-3  # s: JACK losing this much real time in one cycle delays that cycle's MIDI
JUMP = TOLERANCE  # s: what is heard jumping this much later cuts the capture


def cycle_lag(cycles: Array, rate: int) -> Array:
    """How far JACK's frames lag real time (s) at each cycle of ``cycles`` ``[n, 2]``
    (monotonic seconds when the callback ran, the cycle's JACK frame). The callback runs
    late by a varying amount, so the lag is the lower envelope of (stamp - frame / rate):
    a late callback lifts one stamp, a stall lifts all later ones. The floors of the
    window behind and of the window ahead: the higher of the two is right at a step."""
    lag = cycles[:, 0] - cycles[:, 1] / rate
    width = min(ENVELOPE, len(lag))
    floor = np.lib.stride_tricks.sliding_window_view(lag, width).min(axis=1)
    ahead = np.concatenate([floor, np.full(width - 1, floor[-1])])  # windows from the cycle
    behind = np.concatenate([np.full(width - 1, floor[0]), floor])  # windows to the cycle
    return np.maximum(ahead, behind)


@dataclass(frozen=True)
class Timeline:
    """JACK frames to real time, from the capture's cycles."""

    frames: Array  # each cycle's first frame
    lag: Array  # s, per cycle

    @classmethod
    def of(cls, cycles: Array, rate: int) -> Timeline:
        return cls(cycles[:, 1].astype(np.float64), cycle_lag(cycles, rate))

    def cycle(self, at: Array) -> Index:
        index = np.searchsorted(self.frames, at, side="right") - 1
        return np.clip(index, 0, len(self.frames) - 1).astype(np.int64)

    def seconds(self, at: Array, rate: int) -> Array:
        """The real time (s, on the capture's monotonic clock) of JACK frames ``at``."""
        return at / rate + self.lag[self.cycle(at)]

    def after_stall(self, at: Array) -> npt.NDArray[np.bool_]:
        """Frames in the first cycle after a stall (its MIDI was held up by the stall)."""
        index = self.cycle(at)
        return (self.lag[index] - self.lag[np.maximum(index - 1, 0)]) > STALL


def tick_numbers(ticks: Array, interval: float, window: int = 24) -> Array:
    """Each tick's number as a receiver counts them, with the ticks JACK lost put back.

    Counting gap by gap goes wrong for good at the first odd gap: a tick held back a
    period or a whole interval (a late JACK client, the clock thread late), then sent with
    the next, leaves a gap of two intervals that is no lost tick. So each tick is
    numbered by where it lies on the line of the ``window`` ticks before it (their own
    tempo: a clock off in tempo is not pulled to ``interval``, which only starts the
    line): a held-back tick takes the next one's number, and the count is right again
    from the tick after."""
    number = np.zeros(len(ticks))
    for k in range(1, len(ticks)):
        lo = max(0, k - window)
        if k - lo >= 4:
            slope, start = np.polyfit(number[lo:k], ticks[lo:k], 1)
        else:
            slope, start = interval, ticks[lo] - number[lo] * interval
        number[k] = max(np.round((ticks[k] - start) / slope), number[k - 1])
    return number


def segment_of(at: Array, cuts: Array) -> Index:
    """The stretch of each point (stretch k lies between cut k-1 and cut k)."""
    return np.searchsorted(cuts, at, side="right").astype(np.int64)


@dataclass(frozen=True)
class SegmentFit:
    """One slope shared by every stretch, an intercept per stretch, and the residuals."""

    slope: float
    offsets: dict[int, float]
    residuals: Array


def fit_segments(x: Array, y: Array, segment: Index) -> SegmentFit:
    """Least squares of ``y = slope * x + offset[segment]``: the slope from the points'
    spread inside each stretch only (each stretch centred on its own means)."""
    xc, yc = x.astype(np.float64).copy(), y.astype(np.float64).copy()
    for k in np.unique(segment):
        inside = segment == k
        xc[inside] -= x[inside].mean()
        yc[inside] -= y[inside].mean()
    slope = float(np.dot(xc, yc) / np.dot(xc, xc))
    offsets = {int(k): float((y - slope * x)[segment == k].mean()) for k in np.unique(segment)}
    fitted = slope * x + np.array([offsets[int(k)] for k in segment])
    return SegmentFit(slope, offsets, y - fitted)


def heard_jumps(at: Array, stream: Array, timeline: Timeline, rate: int) -> tuple[Array, Array]:
    """(from, to) JACK frames of the clean audio pieces (``at``: their frames, ``stream``:
    the stream frame there) between which what is heard jumped later by more than the
    heard grid's tolerance: the stream slipped against JACK's frames, JACK's frames
    against real time. The jump is somewhere in between: nothing there is judged."""
    late = (at - stream) / rate + timeline.lag[timeline.cycle(at)]
    jumped = np.diff(late) > JUMP
    return at[:-1][jumped], at[1:][jumped]


@dataclass(frozen=True)
class Judged:
    """A capture judged in its stretches (see the module docstring)."""

    clock_per_tick: float  # s of real time per tick (common slope)
    heard_speed: float  # stream frames per frame of real time, as heard (common slope)
    verbatim: float  # stream frames per JACK frame inside the stretches: 1.0 when verbatim
    beats_off_ms: dict[int, float]  # per stretch: 75th percentile of |beat tick - beat|
    stretches: int  # stretches holding enough ticks to judge
    judged_ticks: int  # ticks in them
    cuts: int  # heard jumps of more than the tolerance
    lost_ticks: int  # ticks JACK lost (restored in the count)


def judge(
    ticks: Array,
    beats: Array,
    pieces: tuple[Array, Array],
    cycles: Array,
    interval: float,
    rate: int,
    min_ticks: int = 96,
) -> Judged:
    """``ticks``: clock tick frames; ``beats``: heard beat frames (already moved by the
    output latency); ``pieces``: (JACK frame, stream frame) of clean audio pieces;
    ``cycles``: the capture's (monotonic, frame) per cycle; ``interval``: the planned
    frames per tick (only to count the ticks). Stretches with fewer than ``min_ticks``
    ticks are not judged (a 5.3 ms period over too short a stretch blurs the slope)."""
    at, stream = pieces
    timeline = Timeline.of(cycles, rate)
    before, cuts = heard_jumps(at, stream, timeline, rate)
    number = tick_numbers(timeline.seconds(ticks, rate), interval / rate)
    stretch = segment_of(ticks, cuts)
    stretch[outside(ticks, before, cuts)] = -1
    keys, counts = np.unique(stretch[stretch >= 0], return_counts=True)
    judged = set(keys[counts >= min_ticks].tolist())
    if not judged:
        return Judged(np.nan, np.nan, np.nan, {}, 0, 0, len(cuts), 0)
    kept = np.isin(stretch, list(judged)) & ~timeline.after_stall(ticks)
    clock = fit_segments(number[kept], timeline.seconds(ticks[kept], rate), stretch[kept])
    piece_stretch = segment_of(at, cuts)
    heard = fit_segments(timeline.seconds(at, rate) * rate, stream, piece_stretch)
    slips = at[1:][np.abs(np.diff(stream - at)) > 0.5]
    verbatim = fit_segments(at, stream, segment_of(at, np.union1d(cuts, slips)))
    return Judged(
        clock_per_tick=clock.slope,
        heard_speed=heard.slope,
        verbatim=verbatim.slope,
        beats_off_ms=beat_offsets(ticks, number, beats, (before, cuts), judged, rate),
        stretches=len(judged),
        judged_ticks=int(np.isin(stretch, list(judged)).sum()),
        cuts=len(cuts),
        lost_ticks=int(np.maximum(np.diff(number) - 1, 0).sum()),
    )


def outside(at: Array, before: Array, after: Array) -> npt.NDArray[np.bool_]:
    """Which frames lie between a piece before a jump and the piece after it."""
    return np.any((at[:, None] > before[None, :]) & (at[:, None] < after[None, :]), axis=1)


def beat_offsets(
    ticks: Array,
    number: Array,
    beats: Array,
    jumps: tuple[Array, Array],
    judged: set[int],
    rate: int,
) -> dict[int, float]:
    """Per judged stretch, the 75th percentile of the distance (ms) of each heard beat
    from the nearest beat tick, for the tick of 24 that fits best (one for the stretch).
    A percentile, not the median: a clock that jumps by 15 ms inside a stretch is caught
    whichever tick is taken for the beat."""
    before, cuts = jumps
    tick_stretch, beat_stretch = segment_of(ticks, cuts), segment_of(beats, cuts)
    tick_stretch[outside(ticks, before, cuts)] = -1
    beat_stretch[outside(beats, before, cuts)] = -1
    out = {}
    for k in judged:
        theirs = beats[beat_stretch == k]
        if len(theirs) < 3:
            continue
        misses = []
        for p in range(24):
            mine = ticks[(number % 24 == p) & (tick_stretch == k)]
            if len(mine):
                near = np.abs(mine[:, None] - theirs[None, :]).min(axis=0)
                misses.append(float(np.percentile(near, 75)) / rate * 1000)
        out[int(k)] = min(misses)
    return out
