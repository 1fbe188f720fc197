"""The performance state: prompt slots, generation config, playback, scenes, glides. No I/O.

Theory of operation
-------------------
Everything the performer controls lives here, as plain data, changed only by
``apply(change, now)`` and advanced only by ``tick(now)`` (time is passed in, never read).

* **Slots** hold a text and a *base* weight (what the knob set, clamped to the slot's
  ``lo..hi``). The *effective* weight is the base weight times the crossfader gain of the
  slot's deck: deck A slots get ``cos(x·π/2)``, deck B slots ``sin(x·π/2)`` (equal power),
  slots in neither deck (or in both) get 1. ``wire_prompts()`` is the effective mix with
  zero weights and blank texts dropped, and texts the model filtered left out. It is
  asked for after every change (the Outbox compares it), so it is cached per slot: a
  change rebuilds only the entries it touched (``_touch``), not all sixteen.
* **Glides** are linear ramps of a numeric lane (``slot.N.weight``, ``crossfader``,
  ``space.x`` ...) from its current value to a target over ``duration`` seconds. They start on
  ``scene.recall`` (Change.glide, else the scene's own glide) or on any slot/crossfader
  Change carrying a ``glide``; ``tick(now)`` moves them; a direct move of the same lane
  cancels its glide (the performer wins). The API docs advise cross-fading by sending
  intermediate weights: the Outbox sends what ``tick`` produced.
* **Space** (a ``[space]`` in the set): the position is a lane per axis (``space.x`` ...);
  its moves write the placed slots' weights, last writer wins (``bridge.core.position``).
* **Config** changes are validated against ``CONFIG_SPECS``: numbers are clamped to the
  field's range, ints rounded, enums matched case-insensitively (an int is a 0-based
  index into the choices), ``None`` or ``"auto"`` means auto where the spec allows it.
* **Playback** is ``stopped`` (initially), ``playing`` or ``paused``. Every playback
  action is also appended to ``controls`` with a sequence number, so the Outbox sends
  every one of them, in order, even when two arrive between two polls.
* **Scenes**: ``scene.recall`` by name (exact, then case-insensitive) or 1-based index
  (int, or a string of digits). A scene sets only what it names: unnamed slots keep their
  weight and text. Texts and config apply at once; weights glide. ``scene.store`` saves
  every slot's weight and text (not the config: recalling a stored scene should never
  force a bpm/scale context reset) under a name or 1-based index; an index one past the
  end (or a new name) appends.
* **Other targets**: ``master_volume`` (0..1, local gain), ``record``
  (start/stop/toggle, or a bool: a flag the daemon reads), ``bank`` (recorded for
  status), ``tap_tempo`` (accepted, no effect here: the mapper turns taps into bpm).

``apply`` never raises: a bad target or value is ignored and the reason is returned
(and kept in ``last_problem``). ``snapshot()`` is JSON-able; ``restore()`` accepts any
dict and takes what it can use.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, fields
from typing import Any, ClassVar

from bridge.core import snapshot
from bridge.core.config_values import check_config_value
from bridge.core.config_values import finite_number as _number
from bridge.core.playback import (
    ALLOWED_ACTIONS,
    WORD_OF_STATE,
    PlayState,
    after,
    resolve,
)
from bridge.core.position import PositionLanes, initial_position
from bridge.core.snapshot import WEIGHT_DIGITS
from bridge.core.space import AXES
from bridge.core.targets import Target, parse_target
from bridge.core.types import (
    CONFIG_SPECS,
    RECORD_ACTIONS,
    Change,
    ChangeValue,
    GenerationConfig,
    PerformanceSpec,
    Playback,
    SceneSpec,
    SlotSpec,
    WeightedPrompt,
)

DEFAULT_GLIDE_STEP = 0.05  # seconds between intermediate glide values (20 per second)


@dataclass(slots=True)
class Slot:
    """One prompt slot's live state (mutable: the Performance owns it)."""

    text: str
    weight: float
    lo: float
    hi: float
    texts: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Glide:
    """A linear ramp of one lane from ``start`` to ``end`` between ``t0`` and ``t0 + duration``."""

    start: float
    end: float
    t0: float
    duration: float

    def value(self, now: float) -> float:
        if self.duration <= 0 or now >= self.t0 + self.duration:
            return self.end
        frac = max(0.0, (now - self.t0) / self.duration)
        return self.start + (self.end - self.start) * frac

    def done(self, now: float) -> bool:
        return now >= self.t0 + self.duration


def _clamp(value: float, lo: float, hi: float) -> float:
    return min(hi, max(lo, value))


def deck_gains(crossfader: float) -> tuple[float, float]:
    """Equal-power gains (deck A, deck B) for a crossfader position 0..1."""
    angle = _clamp(crossfader, 0.0, 1.0) * math.pi / 2
    return math.cos(angle), math.sin(angle)


class Performance(PositionLanes):
    """The live state of the set. See the module docstring for the rules."""

    def __init__(self, spec: PerformanceSpec, glide_step: float = DEFAULT_GLIDE_STEP) -> None:
        self.spec = spec
        self.glide_step = glide_step
        self.slots: list[Slot] = [self._slot(s) for s in spec.slots]
        self.scenes: list[SceneSpec] = list(spec.scenes)
        self.stored_scenes: set[str] = set()  # names of scenes stored live (persisted)
        self.config: GenerationConfig = spec.config
        self.state = PlayState.STOPPED
        self.crossfader = _clamp(spec.crossfader, 0.0, 1.0)
        self.master_volume = 1.0
        self.recording = False
        self.bank = 1
        self.scene: str | None = None
        self.filtered: set[str] = set()
        self.glides: dict[str, Glide] = {}
        self.control_seq = 0
        self.controls: deque[tuple[int, Playback]] = deque(maxlen=256)
        self.last_problem: str | None = None
        self.last_note: str | None = None  # the last apply's clamp, said to its sender
        self.space = spec.space
        self.position = initial_position(spec.space)
        self._deck_a = frozenset(spec.deck_a)
        self._deck_b = frozenset(spec.deck_b)
        self._last_tick = float("-inf")
        # wire_prompts cache: one entry per slot (None: left out), the slots to rebuild
        # (None: all) and the assembled tuple (None: reassemble).
        self._wire_entries: list[WeightedPrompt | None] = []
        self._wire_stale: set[int] | None = None
        self._wire: tuple[WeightedPrompt, ...] | None = None
        self._wire_filtered = 0
        self.place()  # a set with a space starts where its position says

    @staticmethod
    def _slot(spec: SlotSpec) -> Slot:
        weight = _clamp(spec.weight, spec.lo, spec.hi)
        return Slot(spec.text, weight, spec.lo, spec.hi, spec.texts)

    # --- reading ---------------------------------------------------------------------
    @property
    def playing(self) -> bool:
        return self.state == "playing"

    @property
    def paused(self) -> bool:
        return self.state == "paused"

    @property
    def stopped(self) -> bool:
        return self.state == "stopped"

    def gain(self, number: int) -> float:
        """The crossfader gain of 1-based slot ``number``."""
        in_a, in_b = number in self._deck_a, number in self._deck_b
        if in_a == in_b:
            return 1.0
        gain_a, gain_b = deck_gains(self.crossfader)
        return gain_a if in_a else gain_b

    def effective_weight(self, number: int) -> float:
        return self.slots[number - 1].weight * self.gain(number)

    def wire_prompts(self) -> tuple[WeightedPrompt, ...]:
        """The prompt set for the model: effective weights, rounded, zeros/blanks dropped."""
        if len(self.filtered) != self._wire_filtered:  # filtered is public: a cheap guard
            self._touch()
        if self._wire is not None:
            return self._wire
        if self._wire_stale is None:
            self._wire_entries = [self._wire_entry(n) for n in range(1, len(self.slots) + 1)]
        else:
            for number in self._wire_stale:
                self._wire_entries[number - 1] = self._wire_entry(number)
        self._wire_stale = set()
        self._wire_filtered = len(self.filtered)
        self._wire = tuple(filter(None, self._wire_entries))  # C speed; entries are truthy
        return self._wire

    def _wire_entry(self, number: int) -> WeightedPrompt | None:
        weight = round(self.effective_weight(number), WEIGHT_DIGITS)
        text = self.slots[number - 1].text.strip()
        if weight > 0 and text and text not in self.filtered:
            return WeightedPrompt(text, weight)
        return None

    def _touch(self, number: int | None = None) -> None:
        """Slot ``number`` (None: every slot) changed: its wire entry must be rebuilt."""
        self._wire = None
        if number is None:
            self._wire_stale = None
        elif self._wire_stale is not None:
            self._wire_stale.add(number)

    def get(self, target: str) -> ChangeValue:
        """The current value of ``target`` (what the mapper's takeover compares with)."""
        parsed = parse_target(target)
        if isinstance(parsed, str):
            return None
        if parsed.kind == "slot":
            if not 1 <= parsed.number <= len(self.slots):
                return None
            slot = self.slots[parsed.number - 1]
            return slot.weight if parsed.name == "weight" else slot.text
        if parsed.kind == "config":
            value: ChangeValue = getattr(self.config, parsed.name)
            return value
        if parsed.kind == "space":
            return self.coordinate(parsed.name)
        if target == "playback":
            return WORD_OF_STATE[self.state]
        if target == "scene.recall":
            return self.scene
        if target in ("crossfader", "bank", "master_volume"):
            simple: ChangeValue = getattr(self, target)
            return simple
        if target == "record":
            return self.recording
        return None

    def next_deadline(self) -> float | None:
        """When ``tick`` should next run (a glide is moving), else None."""
        if not self.glides:
            return None
        end = min(g.t0 + g.duration for g in self.glides.values())
        start = min(g.t0 for g in self.glides.values())
        return min(end, max(self._last_tick, start) + self.glide_step)

    # --- changing --------------------------------------------------------------------
    def tick(self, now: float) -> None:
        """Advance every glide to ``now``; finished glides land exactly on their target."""
        self._last_tick = now
        for lane, glide in list(self.glides.items()):
            if self.glides.get(lane) is not glide:
                continue  # a position step above cancelled this slot's glide
            self._set_lane(lane, glide.value(now))
            if glide.done(now):
                del self.glides[lane]

    def apply(self, change: Change, now: float) -> str | None:
        """Apply one Change. Returns None when applied, else why it was ignored.

        A value moved into range is applied and said in ``last_note``.
        """
        self.last_note = None
        reason = self._dispatch(change, now)
        if reason is not None:
            self.last_problem = f"{change.target}: {reason}"
        return reason

    def mark_filtered(self, text: str) -> None:
        """The model filtered ``text``: leave it out of the wire set from now on."""
        self.filtered.add(text.strip())
        self._touch()

    def _dispatch(self, change: Change, now: float) -> str | None:
        target = parse_target(change.target)
        if isinstance(target, str):
            return target
        if target.kind == "slot":
            return self._apply_slot(target, change, now)
        if target.kind == "config":
            return self._apply_config(target.name, change.value)
        if target.kind == "space":
            return self._apply_space(target, change, now)
        return self._SIMPLE[target.name](self, change, now)

    def _apply_slot(self, target: Target, change: Change, now: float) -> str | None:
        number = target.number
        if not 1 <= number <= len(self.slots):
            return f"no slot {number} (slots are 1..{len(self.slots)})"
        slot = self.slots[number - 1]
        if target.name == "text":
            return self._apply_text(slot, number, change.value)
        weight = _number(change.value)
        if weight is None:
            return f"weight must be a number in {slot.lo:g}..{slot.hi:g}"
        lane = change.target  # parsed, so already the canonical name (no leading zeros)
        end = self._clamped(lane, weight, slot.lo, slot.hi)
        self._start_glide(lane, end, change.glide or 0.0, now)
        return None

    def _clamped(self, name: str, value: float, lo: float, hi: float) -> float:
        """``value`` within ``lo..hi``; a value moved there is noted (said, not silent)."""
        inside = _clamp(value, lo, hi)
        if inside != value:
            self.last_note = f"{name}: {value:g} is outside {lo:g}..{hi:g}, set to {inside:g}"
        return inside

    def _apply_text(self, slot: Slot, number: int, value: ChangeValue) -> str | None:
        if isinstance(value, int) and not isinstance(value, bool) and slot.texts:
            slot.text = slot.texts[min(max(value, 0), len(slot.texts) - 1)]
            self._touch(number)
            return None
        if not isinstance(value, str):
            return "text must be a string (or a 0-based index into the slot's texts)"
        slot.text = value
        self._touch(number)
        return None

    def _start_glide(self, lane: str, end: float, duration: float, now: float) -> None:
        """Set a numeric lane at once, or ramp it from where it is when ``duration`` > 0."""
        if duration <= 0:
            self.glides.pop(lane, None)
            self._set_lane(lane, end)
            return
        start = self._lane(lane)
        self.glides[lane] = Glide(start, end, now, duration)

    def _lane(self, lane: str) -> float:
        if lane == "crossfader":
            return self.crossfader
        if lane.startswith("space."):
            return self.position[AXES.index(lane[6:])]
        return self.slots[int(lane.split(".")[1]) - 1].weight

    def _set_lane(self, lane: str, value: float) -> None:
        if lane == "crossfader":
            self.crossfader = value
            self._touch()
        elif lane.startswith("space."):
            self.move_to(lane[6:], value)
        else:
            number = int(lane.split(".")[1])
            self.slots[number - 1].weight = value
            self._touch(number)

    def _apply_config(self, name: str, value: ChangeValue) -> str | None:
        spec = CONFIG_SPECS.get(name)
        if spec is None:
            return f"unknown config field (allowed: {', '.join(CONFIG_SPECS)})"
        checked = check_config_value(spec, value)
        if not checked.ok:
            return f"config.{name} {checked.problem} (allowed {checked.allowed})"
        if checked.clamped:
            lo, hi = f"{spec.lo:g}", f"{spec.hi:g}"
            self.last_note = f"config.{name}: {value} is outside {lo}..{hi}, set to {checked.value}"
        if getattr(self.config, name) != checked.value:  # unchanged: keep the same object
            self.config = _with(self.config, name, checked.value)
        return None

    def _apply_playback(self, change: Change, now: float) -> str | None:
        control = resolve(change.value, self.state)
        if control is None:
            return f"playback must be one of {ALLOWED_ACTIONS}"
        self.state = after(self.state, control)
        self.control_seq += 1
        self.controls.append((self.control_seq, control))
        return None

    def _apply_crossfader(self, change: Change, now: float) -> str | None:
        value = _number(change.value)
        if value is None:
            return "crossfader must be a number in 0..1"
        end = self._clamped("crossfader", value, 0.0, 1.0)
        self._start_glide("crossfader", end, change.glide or 0.0, now)
        return None

    def _apply_master_volume(self, change: Change, now: float) -> str | None:
        value = _number(change.value)
        if value is None:
            return "master_volume must be a number in 0..1"
        self.master_volume = self._clamped("master_volume", value, 0.0, 1.0)
        return None

    def _apply_record(self, change: Change, now: float) -> str | None:
        value = change.value
        if isinstance(value, bool):
            self.recording = value
            return None
        action = str(value).lower()
        if action not in RECORD_ACTIONS:
            return f"record must be one of {', '.join(RECORD_ACTIONS)}"
        self.recording = {"start": True, "stop": False}.get(action, not self.recording)
        return None

    def _apply_bank(self, change: Change, now: float) -> str | None:
        value = _number(change.value)
        if value is None or value < 1 or value != int(value):
            return "bank must be a whole number >= 1"
        self.bank = int(value)
        return None

    def _apply_tap(self, change: Change, now: float) -> str | None:
        return None  # the mapper turns taps into config.bpm; nothing to hold here

    # --- scenes ----------------------------------------------------------------------
    def find_scene(self, key: ChangeValue) -> int | None:
        """The 0-based index of the scene called ``key`` or numbered ``key`` (1-based)."""
        if isinstance(key, str) and not key.strip().isdecimal():
            names = [s.name for s in self.scenes]
            if key in names:
                return names.index(key)
            lowered = [n.lower() for n in names]
            return lowered.index(key.lower()) if key.lower() in lowered else None
        number = int(key) if isinstance(key, str) else _number(key)
        if number is None or number != int(number) or not 1 <= number <= len(self.scenes):
            return None
        return int(number) - 1

    def _apply_recall(self, change: Change, now: float) -> str | None:
        index = self.find_scene(change.value)
        if index is None:
            names = ", ".join(s.name for s in self.scenes) or "none defined"
            return f"no scene {change.value!r} (scenes: {names})"
        scene = self.scenes[index]
        glide = scene.glide if change.glide is None else change.glide
        placed = self._recall_position(scene.position, glide, now)
        for number, weight in scene.weights.items():
            if 1 <= number <= len(self.slots) and number not in placed:
                slot = self.slots[number - 1]
                end = _clamp(weight, slot.lo, slot.hi)
                self._start_glide(f"slot.{number}.weight", end, glide, now)
        for number, text in scene.texts.items():
            if 1 <= number <= len(self.slots):
                self.slots[number - 1].text = text
                self._touch(number)
        for name, value in scene.config.items():
            self._apply_config(name, value)
        self.scene = scene.name
        return None

    def _apply_store(self, change: Change, now: float) -> str | None:
        where = self._store_slot(change.value)
        if isinstance(where, str):
            return where
        index, name = where
        old = self.scenes[index] if index is not None else None
        scene = SceneSpec(
            name=name,
            weights={n: self._target_weight(n) for n in range(1, len(self.slots) + 1)},
            texts={n: s.text for n, s in enumerate(self.slots, start=1)},
            glide=old.glide if old else 0.0,
            position=self.heading(),
        )
        if index is None:
            self.scenes.append(scene)
        else:
            self.scenes[index] = scene
        self.stored_scenes.add(name)
        self.scene = name
        return None

    def _store_slot(self, key: ChangeValue) -> tuple[int | None, str] | str:
        """(index to replace or None to append, name) for scene.store, or why not."""
        index = self.find_scene(key)
        if index is not None:
            return index, self.scenes[index].name
        if isinstance(key, str) and key.strip() and not key.strip().isdecimal():
            return None, key.strip()  # a new name
        number = int(key) if isinstance(key, str) and key.strip().isdecimal() else _number(key)
        if isinstance(key, bool) or number != len(self.scenes) + 1:
            count = len(self.scenes) + 1
            return f"scene.store needs a scene name or a 1-based index in 1..{count}"
        return None, f"scene {len(self.scenes) + 1}"

    def _target_weight(self, number: int) -> float:
        """Where slot ``number`` is heading (a glide's end), else where it is."""
        glide = self.glides.get(f"slot.{number}.weight")
        return glide.end if glide else self.slots[number - 1].weight

    _SIMPLE: ClassVar[dict[str, Callable[[Performance, Change, float], str | None]]] = {
        "playback": _apply_playback,
        "scene.recall": _apply_recall,
        "scene.store": _apply_store,
        "crossfader": _apply_crossfader,
        "bank": _apply_bank,
        "tap_tempo": _apply_tap,
        "master_volume": _apply_master_volume,
        "record": _apply_record,
    }

    # --- snapshot / restore (bridge.core.snapshot) ------------------------------------
    def snapshot(self) -> dict[str, Any]:
        """A JSON-able picture of the whole state (status API and persistence)."""
        return snapshot.take(self)

    def restore(self, data: dict[str, Any]) -> list[str]:
        """Take back what a snapshot holds; returns the reasons for every part skipped."""
        return snapshot.restore(self, data)

    def stored(self, scene: SceneSpec) -> None:
        """Add (or replace, by name) a scene stored live; it is persisted with the state."""
        index = self.find_scene(scene.name)
        if index is None:
            self.scenes.append(scene)
        else:
            self.scenes[index] = scene
        self.stored_scenes.add(scene.name)


_CONFIG_FIELDS = tuple(f.name for f in fields(GenerationConfig))


def _with(config: GenerationConfig, name: str, value: Any) -> GenerationConfig:
    """``config`` with one field changed: ``dataclasses.replace`` without its per-call
    introspection (a knob storm changes the config a thousand times a second)."""
    return GenerationConfig(
        *(value if field == name else getattr(config, field) for field in _CONFIG_FIELDS)
    )
