"""Keys and pads → Magenta RT 2's note and drum conditioning, frame by frame. Pure.

Theory of operation
-------------------
The model is conditioned per 40 ms frame by a pianoroll of 128 tokens
(``pianoroll_with_onsets_tokens``: −1 masked, 0 off, 1 held, 2 onset, 3 model's choice)
and one drum token (``drum_pianoroll_tokens``: −1 masked, 0 no drum, 1 drum). Keyboard
and pad events arrive at any time; each generated frame takes the state at that moment:

1. **Onset once.** A key pressed since the last frame is an onset (2) in the next frame
   and held (1) in the frames after, while it stays down. Pressing a held key again is a
   new onset (a repeated note).
2. **Short notes are not lost.** A key pressed and released between two frames still
   gets its onset frame, then is off.
3. **Free when idle.** With no key down (and no onset pending) the pianoroll is masked:
   the model plays what it likes. While any key is down, every other pitch is off (0):
   the keyboard says what sounds.
4. **Drums.** A pad hit makes the next frame a drum (1); other frames are masked (the
   model's choice). ``mute_drums`` holds every frame at 0 (the model's drumless mode).
5. **Runs.** One ``generate`` call holds its conditioning for all its frames, so a call's
   frames are grouped into runs of identical conditioning (``runs``) and each run is one
   call: the onset frame is its own one-frame call, the held frames after it another.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

PITCHES = 128
MASKED, OFF, HELD, ONSET = -1, 0, 1, 2
DRUM_MASKED, NO_DRUM, DRUM = -1, 0, 1
NOTES_KEY = "pianoroll_with_onsets_tokens"
DRUMS_KEY = "drum_pianoroll_tokens"

Row = tuple[int, ...]


@dataclass(frozen=True, slots=True)
class Frame:
    """One frame's note and drum conditioning; None = masked (not sent: model free)."""

    notes: Row | None = None
    drum: int | None = None


class NoteRoll:
    """Which keys are down, and which were pressed since the last frame (rules 1-3)."""

    def __init__(self) -> None:
        self._down: set[int] = set()
        self._fresh: set[int] = set()

    def note_on(self, pitch: int) -> None:
        if 0 <= pitch < PITCHES:
            self._down.add(pitch)
            self._fresh.add(pitch)

    def note_off(self, pitch: int) -> None:
        self._down.discard(pitch)  # a fresh key keeps its onset frame (rule 2)

    def clear(self) -> None:
        self._down.clear()
        self._fresh.clear()

    @property
    def held(self) -> tuple[int, ...]:
        return tuple(sorted(self._down))

    def frame(self) -> Row | None:
        """The next frame's 128 tokens, or None (masked) when no key plays."""
        if not self._down and not self._fresh:
            return None
        row = [OFF] * PITCHES
        for pitch in self._down:
            row[pitch] = HELD
        for pitch in self._fresh:
            row[pitch] = ONSET
        self._fresh.clear()
        return tuple(row)


class DrumRoll:
    """Pad hits waiting for their frame (rule 4)."""

    def __init__(self) -> None:
        self._pending = False

    def hit(self) -> None:
        self._pending = True

    def clear(self) -> None:
        self._pending = False

    def frame(self, muted: bool) -> int | None:
        hit, self._pending = self._pending, False
        if muted:
            return NO_DRUM
        return DRUM if hit else None


def next_frames(notes: NoteRoll, drums: DrumRoll, count: int, muted: bool) -> list[Frame]:
    """The conditioning of the next ``count`` frames, advancing both rolls."""
    return [Frame(notes.frame(), drums.frame(muted)) for _ in range(count)]


def runs(frames: Sequence[Frame]) -> list[tuple[Frame, int]]:
    """Consecutive equal frames grouped: (frame, how many) in order (rule 5)."""
    out: list[tuple[Frame, int]] = []
    for frame in frames:
        if out and out[-1][0] == frame:
            out[-1] = (frame, out[-1][1] + 1)
        else:
            out.append((frame, 1))
    return out


def conditioning(frame: Frame) -> dict[str, list[int]]:
    """The ``generate(conditioning=...)`` entries for one frame (masked ones left out)."""
    out: dict[str, list[int]] = {}
    if frame.notes is not None:
        out[NOTES_KEY] = list(frame.notes)
    if frame.drum is not None:
        out[DRUMS_KEY] = [frame.drum]
    return out
