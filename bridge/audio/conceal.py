"""Musical concealment: when the stream runs dry, loop the last bar (or beat) of it.

Pure: no I/O, no clock (time is frames played); small arrays, no per-sample Python. NetEQ's *expand*
for music.

Rules:
1. ``remember`` keeps the last ``HISTORY_SECONDS`` of the live stream as it was played.
2. ``begin(tail, loop)`` starts a loop of the last ``loop`` frames remembered: the
   live ``tail`` (the last frames the stream had) fades out while the start of the
   loop fades in (equal gain: the two are one bar apart, so usually alike), and the
   tail is remembered too, so every wrap of the loop is the same crossfade (no click).
3. While looping, the level is ducked by ``DUCK_DB_PER_SECOND`` down to ``DUCK_FLOOR_DB``
   (the longer it runs, the more it stays in the background); after ``max_seconds``
   it fades to silence over ``FADE_OUT_SECONDS`` and reports ``finished``.
4. The caller merges back into the live stream with ``crossfade`` (equal power).
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

HISTORY_SECONDS = 9.0  # a bar at 30 bpm fits, with room for the crossfade
CROSSFADE_SECONDS = 0.02  # loop points and the way back into the stream
DUCK_DB_PER_SECOND = 0.6  # -12 dB after 20 s
DUCK_FLOOR_DB = -12.0
FADE_OUT_SECONDS = 1.0
F32 = npt.NDArray[np.float32]


def bar_frames(bpm: float | None, rate: int, history: int) -> int:
    """A bar (4 beats) at ``bpm``, else a beat, that fits the history; 0 if none does.
    Without a tempo: two seconds (a bar at 120 bpm)."""
    beat = 0.5 if bpm is None or not 20.0 <= bpm <= 400.0 else 60.0 / bpm
    for beats in (4, 2, 1):
        frames = round(beats * beat * rate)
        if frames <= history:
            return frames
    return 0


class Looper:
    """The history of the live stream and the loop played from it."""

    def __init__(self, rate: int, max_seconds: float, block: int) -> None:
        self.rate = rate
        self.max_frames = round(max_seconds * rate)
        self.xfade = round(CROSSFADE_SECONDS * rate)
        self._hist = np.zeros((round(HISTORY_SECONDS * rate), 2), dtype=np.float32)
        self._written = 0  # frames ever remembered
        self._start = 0  # loop start, as a count of frames remembered
        self._length = 0
        self._pos = 0  # next frame of the loop, same count
        self.played = 0  # frames of loop played in this episode
        t = (np.arange(self.xfade, dtype=np.float32) + 0.5) / self.xfade
        self._fade_in = (0.5 - 0.5 * np.cos(np.pi * t)).astype(np.float32)  # equal gain
        # equal power, one entry past the end: the stream alone once the fade is done
        self._sin = np.append(np.sin(0.5 * np.pi * t), 1.0).astype(np.float32)
        self._cos = np.append(np.cos(0.5 * np.pi * t), 0.0).astype(np.float32)
        self._gain = np.zeros(block, dtype=np.float32)
        self._idx = np.arange(block, dtype=np.float32)

    @property
    def history(self) -> int:
        """Frames remembered that a loop may use."""
        return min(self._written, len(self._hist)) - self.xfade

    @property
    def finished(self) -> bool:
        """Rule 3: the outage outlasted ``max_seconds`` and the fade to silence is done."""
        return self.played >= self.max_frames + round(FADE_OUT_SECONDS * self.rate)

    def remember(self, frames: F32) -> None:
        """Rule 1 (the live stream only; never the loop itself)."""
        n = len(frames)
        cap = len(self._hist)
        if n >= cap:
            frames, n = frames[-cap:], cap
        start = self._written % cap
        first = min(n, cap - start)
        self._hist[start : start + first] = frames[:first]
        self._hist[: n - first] = frames[first:n]
        self._written += n

    def begin(self, tail: F32, loop: int) -> None:
        """Rule 2: ``tail`` (``xfade`` frames of live stream) leads into a loop of ``loop``."""
        self.remember(tail)
        self._length = loop
        self._start = self._written - len(tail) - loop
        self._pos = self._start + loop  # at the tail: the first wrap is the way in
        self.played = 0

    def render(self, out: F32, frames: int) -> None:
        """Fill ``out[:frames]`` with the loop (rules 2 and 3)."""
        done = 0
        while done < frames:
            end = self._start + self._length
            if self._pos < end:  # inside the loop: a straight copy
                n = min(frames - done, end - self._pos)
                self._read(out[done : done + n], self._pos, n)
            else:  # past its end: the tail fades out, the start fades in
                i = self._pos - end
                n = min(frames - done, self.xfade - i)
                seg = out[done : done + n]
                self._read(seg, self._pos, n)
                seg *= 1.0 - self._fade_in[i : i + n, None]
                self._hist_add(seg, self._pos - self._length, self._fade_in[i : i + n], n)
                if i + n == self.xfade:
                    self._pos = self._start + self.xfade - n  # continue after the fade-in
            self._pos += n
            done += n
        self._duck(out, frames)
        self.played += frames

    def crossfade(self, loop: F32, live: F32, n: int, offset: int) -> None:
        """Rule 4: ``live[:n] = loop fading out + live fading in`` (equal power), for the
        ``n`` frames that start ``offset`` frames into the crossfade."""
        k = np.minimum(offset + np.arange(n), self.xfade)
        live[:n] *= self._sin[k, None]
        live[:n] += loop[:n] * self._cos[k, None]

    def _read(self, out: F32, pos: int, n: int) -> None:
        cap = len(self._hist)
        start = pos % cap
        first = min(n, cap - start)
        out[:first] = self._hist[start : start + first]
        out[first:n] = self._hist[: n - first]

    def _hist_add(self, out: F32, pos: int, weight: F32, n: int) -> None:
        cap = len(self._hist)
        idx = (pos + np.arange(n)) % cap
        out += self._hist[idx] * weight[:, None]

    def _duck(self, out: F32, frames: int) -> None:
        """Rule 3: a smooth gain, in dB falling with time, then the final fade."""
        t = (self.played + self._idx[:frames]) / self.rate
        gain = self._gain[:frames]
        np.maximum(-DUCK_DB_PER_SECOND * t, DUCK_FLOOR_DB, out=gain)
        np.power(10.0, gain / 20.0, out=gain)
        over = (self.played + self._idx[:frames] - self.max_frames) / (FADE_OUT_SECONDS * self.rate)
        gain *= np.clip(1.0 - over, 0.0, 1.0)
        out[:frames] *= gain[:, None]
