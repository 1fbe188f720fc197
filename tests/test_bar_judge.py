"""Where a recording of the stream changed (``tests.bar_judge``), on synthetic recordings.

A recording is built the way the daemon's ``--record`` holds one on a busy machine: some
silence before the stream, then the stream with runs of exact silence put in where the
audio child's queue ran dry (a partial block and two whole ones). A change that landed on
its bar line must be found there through them, and only there; a change landing a beat
late or early, frames lost, or silence *replacing* sound must not read as on the line.
The last test runs the rig test's own judgement on the embedded synth's audio.
"""

from __future__ import annotations

import numpy as np
import pytest

from tests import bar_judge

RATE = 48_000
BEAT = RATE // 2  # 120 bpm
BAR = 4 * BEAT
LINE = 4 * BAR  # where the change was asked to land (8 s)
LENGTH = 6 * BAR
LEAD = 30_000  # frames of silence before the stream in the recording
GAPS = (
    (3 * BAR + 1_000, 100),
    (LINE - 7_000, 2_048),
    (LINE + 9_000, 512),
)  # (stream frame, frames)


def stream(seed: int, n: int) -> np.ndarray:
    """A stereo stream that never rests: noise, loud enough to survive int16."""
    return np.random.default_rng(seed).uniform(-0.3, 0.3, (n, 2))


OLD, NEW = stream(1, LENGTH), stream(2, LENGTH)


def changed_at(line: int) -> np.ndarray:
    """The stream changed on stream frame ``line`` (stereo)."""
    return np.concatenate([OLD[:line], NEW[: LENGTH - line]])


def mono(stereo: np.ndarray) -> np.ndarray:
    return stereo.astype(np.float64).mean(axis=1) / 32768.0


def recorded(played: np.ndarray, gaps: tuple[tuple[int, int], ...] = GAPS) -> np.ndarray:
    """What the recorder holds: silence, then ``played`` with silence put in before the
    given stream frames, as int16."""
    parts, at = [np.zeros((LEAD, 2))], 0
    for frame, frames in gaps:
        parts += [played[at:frame], np.zeros((frames, 2))]
        at = frame
    parts.append(played[at:])
    return (np.clip(np.concatenate(parts), -1, 1) * 32767).round().astype(np.int16)


def judge(recording: np.ndarray) -> list[int]:
    """The bar lines the recording changed on, judged as the rig judges it."""
    heard = mono(recording)
    at = (LEAD + BEAT, BEAT)  # aligned half a beat into the stream, as the rig's anchor does
    renders = {line: mono(changed_at(line) * 32767) for line in range(BAR, LENGTH, BAR)}
    return bar_judge.landed(
        heard,
        bar_judge.silent(recording),
        at,
        len(heard) - RATE // 5,
        renders.__getitem__,
        renders,
        (RATE // 2, 2 * RATE),
    )


def test_a_change_on_its_bar_line_is_found_there_through_the_silence_put_in() -> None:
    assert judge(recorded(changed_at(LINE))) == [LINE]


def test_the_silence_put_in_is_counted_where_it_was() -> None:
    recording = recorded(changed_at(LINE))
    heard = mono(recording)
    got = bar_judge.walk(
        heard,
        bar_judge.silent(recording),
        mono(changed_at(LINE) * 32767),
        (LEAD + BEAT, BEAT),
        len(heard),
        LENGTH,
    )
    put_in = [(LEAD + frame + sum(n for _, n in GAPS[:k]), n) for k, (frame, n) in enumerate(GAPS)]
    assert got == bar_judge.Walk(LENGTH, True, tuple(put_in))


@pytest.mark.parametrize("late", [BEAT, -BEAT, 2 * BEAT, 2_400])
def test_a_change_off_the_bar_line_is_on_none(late: int) -> None:
    """A beat late or early, half a bar, or one chunk late: on no bar line."""
    assert judge(recorded(changed_at(LINE + late))) == []
    assert judge(recorded(changed_at(LINE + late), gaps=())) == []


def test_frames_lost_are_not_forgiven() -> None:
    """Frames dropped from the recording (not silence put in) before the line."""
    played = changed_at(LINE)
    dropped = np.concatenate([played[: LINE - 10_000], played[LINE - 9_488 :]])
    assert judge(recorded(dropped, gaps=())) == []


def test_silence_that_replaced_sound_is_not_forgiven() -> None:
    """A run of silence over sound after the line: the stream did not wait for it, or
    waited for only part of it (256 frames of sound lost under 512 of silence)."""
    played = changed_at(LINE).copy()
    played[LINE + 9_000 : LINE + 9_512] = 0.0
    assert judge(recorded(played, gaps=())) == []
    played = changed_at(LINE)
    partly = np.concatenate([played[: LINE + 9_000], played[LINE + 9_256 :]])
    assert judge(recorded(partly, gaps=((LINE + 9_000, 512),))) == []


def test_sound_unlike_the_render_after_the_line_is_not_forgiven() -> None:
    """A click a second past the line: the recording follows no render to its end."""
    played = changed_at(LINE).copy()
    played[LINE + RATE] += 0.5
    assert judge(recorded(played)) == []


def synth_changed_at(line: int, frames: int) -> np.ndarray:
    """The embedded synth's stream at 120 bpm, stereo, given 100 bpm in the last beat
    before stream frame ``line`` (it starts the new context on its next beat)."""
    from bridge.core.types import Control, GenerationConfig, Playback, SetConfig
    from tests.test_sync_rig import synth_engine

    engine = synth_engine(120)
    out, rendered = [], 0
    while rendered + engine.chunk_frames <= line - RATE // 8:
        out.append(engine.render_chunk().samples)
        rendered += engine.chunk_frames
    engine.apply_now(SetConfig(GenerationConfig(bpm=100)))
    engine.apply_now(Control(Playback.RESET_CONTEXT))
    while rendered < frames:
        out.append(engine.render_chunk().samples)
        rendered += engine.chunk_frames
    return np.concatenate(out)


@pytest.mark.parametrize("late", [0, BEAT, -BEAT])
def test_the_rig_finds_the_synths_change_on_its_bar_line_only(late: int) -> None:
    """The rig test's own judgement (``bar_lines_changed_on``) on the embedded synth's
    audio with silence put in: a change on the bar line at 4 s is found there; one a beat
    late or early (the synth lands changes on its beats) on no bar line."""
    from tests.test_sync_rig import bar_lines_changed_on

    played = synth_changed_at(2 * BAR + late, 4 * BAR)
    gaps = ((BAR + 3_000, 2_048), (2 * BAR - 5_000, 512), (2 * BAR + 20_000, 256))
    landed, _ = bar_lines_changed_on(recorded(played, gaps))
    assert landed == ([2 * BAR] if late == 0 else [])
