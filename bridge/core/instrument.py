"""The instrument: the whole pure core as one object. No I/O, no clock of its own.

Theory of operation
-------------------
Everything a performer does goes *in*; everything the world must do comes *out*, as
data, like websockets' sans-I/O ``Protocol``::

    midi(event, now) ──▶ Mapper ─▶ [Change] ─┐
    apply(change, now) ──────────────────────┴▶ Performance ─▶ Outcome (refused / clamped)
    poll(now) ─▶ [Effect]: PlayNote · Send(update) · SetGain · Fade · Record · Feedback ·
                           SaveState · StatusChanged
    next_deadline() ─▶ when poll has something due (a glide step, a rate-limit slot,
                       the quiet second before the state is saved), else None

The daemon is a pump: it feeds inputs, performs the effects ``poll`` returns in order,
and sleeps until ``next_deadline()`` or the next input. Tests and the benchmark drive this
same object (``bridge.core.drive``), so what they measure is what the daemon runs.

Rules
-----
1. **Effects come from state differences.** ``SetGain`` is emitted when the accepted
   master volume × the rig's gain differs from the gain last emitted; ``Record`` when the
   performance's record flag differs from what the recorder does. A refused or clamped
   value therefore never reaches the audio: only what the Performance holds does.
2. **Wire updates** are the Outbox's (coalesced, rate limited, bpm/scale → reset). Each
   playback control on the wire brings its local fade first: PLAY fades in, PAUSE fades
   out, STOP fades out and flushes the buffer (a pause is heard at once, without a click).
3. **Feedback** (LEDs, rings, motor faders) follows the state; only changed values go out.
4. **Persistence**: ``SaveState`` is emitted ``save_after`` seconds after the first
   unsaved change, so at most once a second however busy the knobs (an SD card wears
   out) and never more than a second behind.
5. **Status**: ``StatusChanged`` after any input or wire update, at most once per poll.
6. ``apply`` never raises: a refusal is ``Outcome.refused`` (the status API replies with
   it); a value moved into range is applied and said in ``Outcome.note``.
7. **Launch quantization** (``bridge.core.quantize``): bpm/scale changes, scene recalls,
   PLAY/STOP and reset wait for the next bar (or beat) of the heard grid, given as data
   by ``grid(grid)``; ``next_deadline`` wakes the pump then, and they apply there. A tap
   (the last tap is a downbeat) or a MIDI Start anchors the grid to the performer's beat.
8. ``reload(mapping, now)`` swaps the mapping, carrying the running state over (weights,
   config, playback, scene, space position; texts the file changed are taken; a changed
   ``[space]`` re-places its slots) and re-arming takeover. ``replay()`` is what a fresh
   engine session needs.
9. **Keys and pads** (``notes``/``drums`` bindings) are events, not state: their Changes
   bypass the Performance and come out of the next ``poll`` first, one ``PlayNote`` each,
   in order, never coalesced (the engine's note conditioning takes them).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from bridge.core.grid import Grid
from bridge.core.mapper import Mapper
from bridge.core.mapping import NOTE_CHANGES, MappingSet
from bridge.core.outbox import Outbox
from bridge.core.performance import Performance
from bridge.core.quantize import Mode, Quantizer
from bridge.core.types import (
    Change,
    ChangeValue,
    Control,
    MidiEvent,
    PerformanceSpec,
    Playback,
    Update,
)


# --- results and effects ----------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Outcome:
    """What became of one Change: refused (why), or applied (with a note if clamped)."""

    refused: str | None = None
    note: str | None = None


@dataclass(frozen=True, slots=True)
class Send:
    """Send ``update`` to the engine (in order)."""

    update: Update


@dataclass(frozen=True, slots=True)
class PlayNote:
    """Hand a key or pad (``notes.on``/``notes.off``/``drums.hit``) to the engine."""

    change: Change


@dataclass(frozen=True, slots=True)
class SetGain:
    """Set the local output gain (master volume × rig gain), 0..2."""

    gain: float


@dataclass(frozen=True, slots=True)
class Fade:
    """Fade the local output in or out; ``flush`` drops what is buffered (a STOP)."""

    direction: Literal["in", "out"]
    flush: bool = False


@dataclass(frozen=True, slots=True)
class Record:
    """Start (``on``) or stop recording what is heard."""

    on: bool


@dataclass(frozen=True, slots=True)
class Feedback:
    """Send ``event`` to ``controller`` (an LED, a ring, a motor fader)."""

    controller: str
    event: MidiEvent


@dataclass(frozen=True, slots=True)
class SaveState:
    """Persist ``snapshot`` (JSON-able)."""

    snapshot: dict[str, Any]


@dataclass(frozen=True, slots=True)
class StatusChanged:
    """The status snapshot changed: push it to watchers."""


STATUS_CHANGED = StatusChanged()
APPLIED = Outcome()  # the usual answer, shared: a knob storm makes thousands a second
Effect = PlayNote | Send | SetGain | Fade | Record | Feedback | SaveState | StatusChanged

_FADES: dict[Playback, Fade] = {
    Playback.PLAY: Fade("in"),
    Playback.PAUSE: Fade("out"),
    Playback.STOP: Fade("out", flush=True),
}


@dataclass
class Counters:
    """What the status shows of the instrument's work."""

    changes: int = 0
    refused: int = 0
    updates: int = 0
    reloads: int = 0


class Instrument:
    """The pure core as one object. See the module docstring for the rules."""

    def __init__(
        self,
        mapping: MappingSet,
        *,
        rig_gain: float = 1.0,
        outbox_interval: float = 0.05,
        save_after: float = 1.0,
        outbox: Outbox | None = None,
        performance: Performance | None = None,
        quantize: Mode = "bar",
    ) -> None:
        self.mapping = mapping
        self.mapper = Mapper(mapping)
        self.perf = performance or Performance(mapping.performance)
        self.outbox = outbox or Outbox(interval=outbox_interval)
        self.rig_gain = rig_gain
        self.save_after = save_after
        self.counters = Counters()
        self.quantizer = Quantizer(quantize)
        self._gain_out: float | None = None  # the gain last emitted (None: never)
        self._recording_out = False  # what the recorder is doing, as far as we know
        self._dirty_since: float | None = None
        self._status_dirty = False
        self._notes: list[Change] = []  # keys and pads waiting for the next poll (rule 8)

    # --- inputs ------------------------------------------------------------------------
    def midi(self, event: MidiEvent, now: float) -> list[Change]:
        """One MIDI event from any controller; returns the Changes it made (applied)."""
        changes = self.mapper.handle(event, now, self.perf.get)
        anchor = self.mapper.take_anchor()
        if anchor is not None:  # a tap or a MIDI Start: the performer's downbeat (rule 7)
            self.quantizer.set_grid(Grid(anchor[0], now, source=anchor[1]))
        for change in changes:
            if change.target in NOTE_CHANGES:
                self._notes.append(change)
            else:
                self.apply(change, now)
        return changes

    def apply(self, change: Change, now: float) -> Outcome:
        """Apply one Change from any input (MIDI, status API, scenes, autoplay, OSC)."""
        held = self.quantizer.hold(change, now, self.perf)
        if held is not None:  # rule 7: applied at the boundary, by poll
            self.counters.changes += 1
            self._status_dirty = True
            wait = held.boundary - now
            return Outcome(note=f"{change.target}: lands on the grid in {wait:.2f} s")
        return self._apply_now(change, now)

    def _apply_now(self, change: Change, now: float) -> Outcome:
        reason = self.perf.apply(change, now)
        self.counters.changes += 1
        if reason is not None:
            self.counters.refused += 1
            return Outcome(refused=reason)
        if change.target == "scene.recall":
            self.mapper.rearm()  # knobs must not jump the recalled scene
        self._touched(now)
        note = self.perf.last_note
        return APPLIED if note is None else Outcome(note=note)

    def controller(self, name: str, present: bool) -> None:
        """A controller came (its LEDs are re-sent in full) or went."""
        if present:
            self.mapper.resend_feedback(name)

    def mark_filtered(self, text: str, now: float) -> None:
        """The model filtered ``text``: it leaves the wire set and the status shows it."""
        if text.strip() and text.strip() not in self.perf.filtered:
            self.perf.mark_filtered(text)
            self._touched(now)

    def recording_stopped(self, now: float) -> None:
        """The recorder stopped on its own (a full disk) or could not start."""
        self.perf.recording = self._recording_out = False
        self._touched(now)

    def recording_started(self) -> None:
        """The recorder was started outside the instrument (``--record`` at start-up)."""
        self.perf.recording = self._recording_out = True

    def restore(self, snapshot: dict[str, Any]) -> list[str]:
        """Take back a saved state (what it could not use is returned, one line each)."""
        problems = self.perf.restore(snapshot)
        self.mapper.rearm()
        self._status_dirty = True
        return problems

    def reload(self, mapping: MappingSet, now: float) -> None:
        """Swap in a new mapping, keeping the running state (rule 7)."""
        snapshot = carry_over(self.perf.snapshot(), self.mapping.performance, mapping.performance)
        recording = self.perf.recording
        moved = mapping.performance.space != self.mapping.performance.space
        self.mapping = mapping
        self.mapper = Mapper(mapping)
        self.perf = Performance(mapping.performance)
        self.perf.restore(snapshot)
        if moved:
            self.perf.place()  # a new geometry: the placed slots follow it, not the old mix
        self.perf.recording = recording
        self.mapper.rearm()
        self.outbox.sync(self.perf, now)  # next_deadline must see the new set at once
        self.counters.reloads += 1
        self._touched(now)

    # --- outputs -----------------------------------------------------------------------
    def replay(self, now: float) -> list[Effect]:
        """Everything a fresh engine session needs (prompts, config, PLAY if playing)."""
        out: list[Effect] = [Send(u) for u in self.outbox.replay(self.perf)]
        self.outbox.step(self.perf, now)  # the replay already carried the current state
        return out

    def poll(self, now: float) -> list[Effect]:
        """The effects due at ``now``, in the order they must be performed."""
        perf = self.perf
        for change in self.quantizer.due(now):
            self.counters.changes -= 1  # counted once, when it was held
            self._apply_now(change, now)
        if perf.glides:
            perf.tick(now)
        out: list[Effect] = []
        if self._notes:
            out.extend(PlayNote(change) for change in self._notes)
            self._notes.clear()
        updates = self.outbox.step(perf, now)
        if updates:
            self._sends(updates, out)
        if perf.master_volume * self.rig_gain != self._gain_out:
            self._gain_out = perf.master_volume * self.rig_gain
            out.append(SetGain(self._gain_out))
        if perf.recording != self._recording_out:
            self._recording_out = perf.recording
            out.append(Record(perf.recording))
        for controller, message in self.mapper.feedback(perf.get):
            out.append(Feedback(controller, message))
        if self._dirty_since is not None and now >= self._dirty_since + self.save_after:
            self._dirty_since = None
            out.append(SaveState(perf.snapshot()))
        if updates or self._status_dirty:
            self._status_dirty = False
            out.append(STATUS_CHANGED)
        return out

    def _sends(self, updates: list[Update], out: list[Effect]) -> None:
        """Wire updates in order, each playback control after its local fade (rule 2)."""
        for update in updates:
            if isinstance(update, Control) and update.action in _FADES:
                out.append(_FADES[update.action])
            out.append(Send(update))
        self.counters.updates += len(updates)

    def next_deadline(self) -> float | None:
        """When ``poll`` next has something due without a new input (None: nothing)."""
        times = [t for t in (self.perf.next_deadline(), self.outbox.next_deadline()) if t]
        held = self.quantizer.next_deadline()
        if held is not None:
            times.append(held)
        if self._dirty_since is not None:
            times.append(self._dirty_since + self.save_after)
        return min(times) if times else None

    def grid(
        self,
        grid: Grid | None,
        engine_lead: float = 0.0,
        output_lead: float = 0.0,
        on_beats: bool = False,
    ) -> None:
        """The heard grid (None: unknown) and how long a change takes to be heard through
        the engine and through a local fade (rule 7; measured by the daemon); ``on_beats``:
        the engine applies changes on its own next beat."""
        self.quantizer.set_grid(grid)
        self.quantizer.set_leads(engine_lead, output_lead, on_beats)
        self._status_dirty = True

    def current(self, target: str) -> ChangeValue:
        return self.perf.get(target)

    @property
    def gain(self) -> float:
        """The local gain the state asks for (master volume × rig gain)."""
        return self.perf.master_volume * self.rig_gain

    def _touched(self, now: float) -> None:
        if self._dirty_since is None:
            self._dirty_since = now
        self._status_dirty = True


def carry_over(
    snapshot: dict[str, Any], old: PerformanceSpec, new: PerformanceSpec
) -> dict[str, Any]:
    """After a reload, keep the running state (weights, config, playback, scene) but take
    every slot text the file itself changed; slots the file added start as written."""
    merged = dict(snapshot)
    slots = []
    for item in snapshot.get("slots") or []:
        number = item.get("slot") if isinstance(item, dict) else None
        if not isinstance(number, int) or not 1 <= number <= len(new.slots):
            continue
        item = dict(item)
        new_text = new.slots[number - 1].text
        if number > len(old.slots) or old.slots[number - 1].text != new_text:
            item["text"] = new_text
        slots.append(item)
    merged["slots"] = slots
    return merged
