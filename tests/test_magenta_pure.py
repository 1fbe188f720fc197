"""The magenta engine's pure rules with plain values: blend, control mapping, note frames."""

from __future__ import annotations

from dataclasses import fields

import numpy as np
import pytest

from bridge.core.types import GenerationConfig, WeightedPrompt
from bridge.engines.magenta import controls, noteroll
from bridge.engines.magenta.blend import StyleCache, blend, blend_weights
from bridge.engines.magenta.noteroll import HELD, MASKED, OFF, ONSET, DrumRoll, Frame, NoteRoll

P = WeightedPrompt


# --- blend ---------------------------------------------------------------------------
def test_weights_ignore_non_positive_and_normalise() -> None:
    """Weights ≤ 0 are left out; the rest are shares summing to 1."""
    shares = blend_weights([P("a", 1.0), P("b", 3.0), P("c", 0.0), P("d", -1.0)])
    assert shares == [("a", 0.25), ("b", 0.75)]


def test_same_text_twice_is_one_share() -> None:
    assert blend_weights([P("a", 1.0), P("a", 1.0), P("b", 2.0)]) == [("a", 0.5), ("b", 0.5)]


def test_no_positive_weight_is_no_blend() -> None:
    assert blend_weights([P("a", 0.0)]) == []
    assert blend_weights([P("a", float("nan"))]) == []


def test_blend_is_the_weighted_average() -> None:
    a = np.array([1.0, 0.0], dtype=np.float32)
    b = np.array([0.0, 1.0], dtype=np.float32)
    out = blend([a, b], [0.25, 0.75])
    assert out.dtype == np.float32
    assert out.tolist() == [0.25, 0.75]


def test_blend_needs_one_share_each() -> None:
    with pytest.raises(ValueError):
        blend([np.zeros(2)], [0.5, 0.5])


def _cache() -> tuple[StyleCache, list[str], list[np.ndarray]]:
    embedded: list[str] = []
    tokenized: list[np.ndarray] = []

    def embed(text: str) -> np.ndarray:
        embedded.append(text)
        return np.array([float(len(text)), 1.0], dtype=np.float32)

    def tokenize(e: np.ndarray) -> np.ndarray:
        tokenized.append(e)
        return np.array([int(e[0] * 10), 7])

    return StyleCache(embed, tokenize), embedded, tokenized


def test_cache_embeds_each_text_once_and_tokenizes_on_weight_change() -> None:
    """A text is embedded once; tokens are recomputed only when the weights change."""
    cache, embedded, tokenized = _cache()
    prompts = [P("ab", 1.0), P("abcd", 1.0)]
    assert cache.tokens(prompts) == [30, 7]  # mean of 2 and 4 = 3
    assert cache.tokens(list(prompts)) == [30, 7]
    assert (embedded, len(tokenized)) == (["ab", "abcd"], 1)
    assert cache.tokens([P("ab", 3.0), P("abcd", 1.0)]) == [25, 7]  # 0.75·2 + 0.25·4
    assert (embedded, len(tokenized)) == (["ab", "abcd"], 2)
    assert cache.tokens([P("ab", 0.0)]) is None


def test_cache_forgets_the_oldest_text_when_full() -> None:
    cache, embedded, _ = _cache()
    cache._max = 2
    for text in ("a", "bb", "ccc", "a"):
        cache.tokens([P(text, 1.0)])
    assert embedded == ["a", "bb", "ccc", "a"]


# --- control mapping -----------------------------------------------------------------
def test_every_config_field_is_classified_once() -> None:
    names = {f.name for f in fields(GenerationConfig)}
    assert set(controls.SUPPORTED) | set(controls.UNSUPPORTED) == names
    assert not set(controls.SUPPORTED) & set(controls.UNSUPPORTED)


def test_sampling_maps_temperature_topk_guidance_and_drums() -> None:
    s = controls.sampling(
        GenerationConfig(temperature=1.4, top_k=80, guidance=5.5, mute_drums=True)
    )
    assert (s.temperature, s.top_k, s.mute_drums) == (1.4, 80, True)
    assert s.cfg_dict() == {"musiccoca": 5.5, "notes": 1.0, "drums": 1.0}


def test_sampling_keeps_the_model_in_its_ranges() -> None:
    """Temperature 0 would divide by zero in the sampler; CFG is clamped to −1..7."""
    s = controls.sampling(GenerationConfig(temperature=0.0, guidance=6.0))
    assert s.temperature == controls.MIN_TEMPERATURE
    assert s.cfg_dict()["musiccoca"] == 6.0


def test_unsupported_fields_are_reported_once_when_used() -> None:
    warned: set[str] = set()
    assert controls.newly_unsupported(GenerationConfig(), warned) == ()
    cfg = GenerationConfig(bpm=120, scale="D_MAJOR_B_MINOR", mute_drums=True)
    assert controls.newly_unsupported(cfg, warned) == ("bpm", "scale")
    assert controls.newly_unsupported(cfg, warned) == ()
    assert controls.unsupported_in_use(GenerationConfig(mode="DIVERSITY", seed=3)) == (
        "seed",
        "mode",
    )


# --- notes, frame by frame -----------------------------------------------------------
def _row(**marks: int) -> tuple[int, ...]:
    row = [OFF] * 128
    for pitch, token in marks.items():
        row[int(pitch[1:])] = token
    return tuple(row)


def test_idle_keyboard_is_masked() -> None:
    assert NoteRoll().frame() is None


def test_onset_then_held_then_off() -> None:
    """Frame 1 of a key is its onset, later frames hold it, release frees the roll."""
    roll = NoteRoll()
    roll.note_on(60)
    assert roll.frame() == _row(p60=ONSET)
    assert roll.frame() == _row(p60=HELD)
    roll.note_on(64)
    assert roll.frame() == _row(p60=HELD, p64=ONSET)
    roll.note_off(60)
    assert roll.frame() == _row(p64=HELD)
    roll.note_off(64)
    assert roll.frame() is None


def test_a_note_shorter_than_a_frame_keeps_its_onset() -> None:
    roll = NoteRoll()
    roll.note_on(48)
    roll.note_off(48)
    assert roll.frame() == _row(p48=ONSET)
    assert roll.frame() is None


def test_repeated_key_is_a_new_onset() -> None:
    roll = NoteRoll()
    roll.note_on(50)
    roll.frame()
    roll.note_on(50)
    assert roll.frame() == _row(p50=ONSET)


def test_out_of_range_pitch_is_ignored() -> None:
    roll = NoteRoll()
    roll.note_on(128)
    roll.note_on(-1)
    assert roll.frame() is None


def test_drums_hit_once_masked_otherwise_and_muted_always_zero() -> None:
    drums = DrumRoll()
    assert drums.frame(muted=False) is None
    drums.hit()
    assert [drums.frame(False), drums.frame(False)] == [1, None]
    drums.hit()
    assert [drums.frame(True), drums.frame(True)] == [0, 0]


def test_a_call_splits_into_runs_of_equal_conditioning() -> None:
    """Five frames after a key press: one onset frame, then four held frames."""
    notes, drums = NoteRoll(), DrumRoll()
    notes.note_on(62)
    drums.hit()
    frames = noteroll.next_frames(notes, drums, 5, muted=False)
    got = noteroll.runs(frames)
    assert [count for _, count in got] == [1, 4]
    assert got[0][0] == Frame(_row(p62=ONSET), 1)
    assert got[1][0] == Frame(_row(p62=HELD), None)


def test_conditioning_leaves_masked_parts_out() -> None:
    assert noteroll.conditioning(Frame()) == {}
    cond = noteroll.conditioning(Frame(_row(p1=HELD), 0))
    assert cond[noteroll.DRUMS_KEY] == [0]
    assert cond[noteroll.NOTES_KEY][1] == HELD and len(cond[noteroll.NOTES_KEY]) == 128
    assert MASKED == -1


def test_a_lyria_clients_reset_for_bpm_or_scale_is_recognised() -> None:
    """Only a config whose sole changes are bpm/scale brings the client's reset."""
    base = GenerationConfig()
    follows = controls.lyria_reset_follows
    assert follows(base, GenerationConfig(bpm=120))
    assert follows(base, GenerationConfig(bpm=120, scale="D_MAJOR_B_MINOR"))
    assert not follows(base, GenerationConfig(bpm=120, temperature=2.0))
    assert not follows(base, GenerationConfig())
    assert not follows(base, GenerationConfig(density=0.5))
