"""The mapper: MIDI events → Changes, and target values → feedback messages. Pure, no I/O.

Theory of operation
-------------------
``Mapper(mapping)`` builds, per controller, an ``Assembler`` (14-bit pairs and NRPN for
the sources its bindings use) and a table from ``(kind, channel, number)`` to bindings.
``handle(event, now, current)`` assembles the event into logical inputs, looks up the
bindings active in the current bank and runs each binding's *mode*:

========== ================================================================================
absolute   transform the raw value (range, curve, ...) → takeover → Change. Targets with a
           list of values (enums, texts, scenes) pick by zone. ``auto`` ends → None.
relative   decode the encoder (or NRPN inc/dec, or an inc/dec pair) → step from the
           target's current value, accelerated; lists move one item per tick.
toggle     on press, ``off`` if the target holds ``value`` else ``value``.
momentary  ``value`` on press, ``off`` on release.
trigger    ``value`` on press (playback actions, scene recall, bank, tap tempo...).
step/cycle on press (or encoder tick), the next item of ``values``; step stops at the
           ends, cycle wraps around.
========== ================================================================================

Bindings to ``notes`` and ``drums`` (keys and pads played into a model with note
conditioning) skip the modes: each key press and release becomes ``notes.on`` /
``notes.off``, each pad press ``drums.hit``, with the note number as the value.

A press is a note-on / CC value above 0 (any program change is a press); a release is
0. ``current(target)`` is the Performance's value (``Performance.get``); it drives
toggles, relative steps and takeover, and avoids re-sending a value the target holds.

Handled inside: ``bank`` (switches the bindings in use, re-arms takeover, and is also
emitted as a Change for status), ``tap_tempo`` and MIDI clock (→ ``config.bpm``), MIDI
transport when the controller asks for it (start/continue → play, stop → pause).
A tap that gives a tempo, and a MIDI Start, also mark the performer's downbeat:
``take_anchor()`` returns it once, as ``(bpm, source)`` at the event's time.

Events whose ``port`` is not a controller's name (the virtual "PromptBridge" input) are
tried against every controller's bindings, each with its own assembly state.

``feedback(current)`` renders every active binding with feedback into the message its
controller should show (LED on/off, ring position, motor fader), returning only those
that differ from what was last sent; ``resend_feedback(name)`` forgets what a controller
was sent (it was re-plugged). ``rearm()`` re-arms takeover (scene recall, restart).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from bridge.core import transform as tf
from bridge.core.encoders import accelerate, decode
from bridge.core.mapping import NOTE_TARGETS, Binding, ControllerSpec, MappingSet
from bridge.core.midi import Assembler, Input
from bridge.core.takeover import TakeoverState, resolve
from bridge.core.tempo import ClockTempo, TapTempo
from bridge.core.types import Change, ChangeValue, MidiEvent

Current = Callable[[str], ChangeValue]
_ANY = -1  # channel key of bindings that listen on every channel
_SYSTEM = frozenset({"clock", "start", "continue", "stop"})


@dataclass(slots=True)
class _State:
    """A binding and what the mapper remembers about it."""

    b: Binding
    takeover: TakeoverState = field(default_factory=TakeoverState)
    last_tick: float | None = None  # last relative tick (acceleration)
    zone: int | None = None  # last zone an absolute control picked from a list


@dataclass
class _Controller:
    spec: ControllerSpec
    cc14: frozenset[int]
    nrpn: bool
    table: dict[tuple[str, int, int], list[_State]]
    feedback: list[_State]
    assemblers: dict[str, Assembler] = field(default_factory=dict)

    def assembler(self, port: str) -> Assembler:
        asm = self.assemblers.get(port)
        if asm is None:
            asm = self.assemblers[port] = Assembler(self.cc14, self.nrpn)
        return asm


class Mapper:
    """Per-control state and the rules of ``bridge.core.mapping`` applied to events."""

    def __init__(self, mapping: MappingSet) -> None:
        self.mapping = mapping
        self.bank = 1
        self._ctrls: dict[str, _Controller] = {}
        self._states: list[_State] = []
        for spec in mapping.controllers:
            self._ctrls[spec.name] = self._controller(spec)
        self._all = list(self._ctrls.values())
        self._lights = any(c.feedback for c in self._all)
        self._scenes = tuple(s.name for s in mapping.performance.scenes)
        self._tap = TapTempo()
        self._clocks: dict[str, ClockTempo] = {}
        self._sent: dict[tuple[str, str, int, int], int] = {}
        self._anchor: tuple[float, str] | None = None

    def _controller(self, spec: ControllerSpec) -> _Controller:
        mine = [b for b in self.mapping.bindings if b.controller == spec.name]
        table: dict[tuple[str, int, int], list[_State]] = {}
        feedback: list[_State] = []
        for b in mine:
            st = _State(b)
            self._states.append(st)
            ch = _ANY if b.source.channel is None else b.source.channel
            numbers = [*b.source.numbers()] + ([b.source.dec] if b.source.dec is not None else [])
            kind = "note" if b.source.kind == "notes" else b.source.kind  # a keyboard range
            for n in numbers:
                table.setdefault((kind, ch, n), []).append(st)
            if b.feedback is not None and spec.output is not None:
                feedback.append(st)
        cc14 = frozenset(b.source.number for b in mine if b.source.kind == "cc14")
        nrpn = any(b.source.kind in ("nrpn", "rpn") for b in mine)
        return _Controller(spec, cc14, nrpn, table, feedback)

    # --- input -----------------------------------------------------------------------
    def handle(self, event: MidiEvent, now: float, current: Current) -> list[Change]:
        """The Changes one MIDI event causes (often one, none, or a few)."""
        out: list[Change] = []
        ctrl = self._ctrls.get(event.port)
        ctrls = [ctrl] if ctrl is not None else self._all
        if event.kind in _SYSTEM:
            self._system(event, now, ctrls, out)
            return out
        for c in ctrls:
            for inp in c.assembler(event.port).feed(event):
                self._dispatch(c, inp, now, current, out)
        return out

    def _dispatch(
        self, c: _Controller, inp: Input, now: float, current: Current, out: list[Change]
    ) -> None:
        table = c.table
        numbers = (inp.number, _ANY) if inp.kind == "program" else (inp.number,)
        for number in numbers:
            for ch in (inp.channel, _ANY):
                states = table.get((inp.kind, ch, number))
                if states is None:
                    continue
                for st in states:
                    bank = st.b.bank
                    if bank is None or bank == self.bank:
                        self._run(st, inp, now, current, out)

    def _run(self, st: _State, inp: Input, now: float, current: Current, out: list[Change]) -> None:
        b = st.b
        if b.target in NOTE_TARGETS:
            _play(b, inp, out)
            return
        mode = b.mode
        if mode == "absolute" and not inp.delta:
            self._absolute(st, inp.value, current, out)
            return
        if mode == "relative" or inp.delta or (b.encoding and mode in ("step", "cycle")):
            self._relative(st, inp, now, current, out)
            return
        pressed = inp.value > 0 or inp.kind == "program"
        if mode == "momentary":
            self._emit(b, b.value if pressed else b.off, current, out, now)
        elif not pressed:
            return
        elif mode == "trigger":
            value = b.value
            if value is None and inp.kind == "program" and b.target.startswith("scene."):
                value = inp.number + 1
            self._emit(b, value, current, out, now, force=True)
        elif mode == "toggle":
            held = self._current(b.target, current)
            self._emit(b, b.off if _same(held, b.value) else b.value, current, out, now)
        else:  # step / cycle
            self._move(st, 1, current, out, now)

    def _absolute(self, st: _State, raw: int, current: Current, out: list[Change]) -> None:
        b = st.b
        t = b.transform
        if b.auto is not None:
            span = t.in_hi - t.in_lo
            pos = (raw - t.in_lo) / span if span else 0.0
            if (pos <= 0.0) if b.auto == "low" else (pos >= 1.0):
                st.takeover.rearm()
                if current(b.target) is not None:
                    out.append(Change(b.target, None, source=b.label))
                return
        x = tf.normalise(t, raw)
        if b.target_kind in ("float", "int"):
            y = tf.scale(t, tf.shape(t, x))
            held = current(b.target)
            number = held if isinstance(held, int | float) and not isinstance(held, bool) else None
            value = resolve(b.takeover, st.takeover, y, number, t.out_lo, t.out_hi)
            if value is None:
                return
            result = round(value) if b.target_kind == "int" else value
            st.takeover.sent = float(result)
            if result != held:
                out.append(Change(b.target, result, source=b.label))
            return
        n = len(b.values)
        zone = min(int(tf.shape(t, x) * n), n - 1)
        if zone == st.zone and b.target_kind == "action":
            return  # an action fires once per zone entered, not on every message
        st.zone = zone
        item = b.values[zone]
        if b.target_kind == "action" or not _same(current(b.target), item):
            out.append(Change(b.target, item, b.glide, b.label))

    def _relative(
        self, st: _State, inp: Input, now: float, current: Current, out: list[Change]
    ) -> None:
        b = st.b
        if inp.delta:
            d = inp.delta
        elif b.encoding == "inc-dec":
            if inp.value <= 0:
                return  # the release of an up/down button
            d = -1 if inp.number == b.source.dec and inp.number != b.source.number else 1
        elif b.encoding:
            d = decode(b.encoding, inp.value)
        else:
            return
        if d == 0:
            return
        if b.target_kind not in ("float", "int"):
            self._move(st, d, current, out, now)
            return
        interval = None if st.last_tick is None else now - st.last_tick
        st.last_tick = now
        t = b.transform
        lo, hi = min(t.out_lo, t.out_hi), max(t.out_lo, t.out_hi)
        held = current(b.target)
        if not isinstance(held, int | float) or isinstance(held, bool):
            held = (lo + hi) / 2.0  # from "auto": start in the middle
        sign = -1.0 if t.invert else 1.0
        value = held + sign * accelerate(d, b.acceleration, interval) * b.step * (hi - lo)
        value = min(hi, max(lo, value))
        if b.target_kind == "int":
            stepped = round(value)
            if stepped == held and lo < held + (1 if d * sign > 0 else -1) <= hi:
                stepped = round(held) + (1 if d * sign > 0 else -1)  # always move at least 1
            value = min(hi, max(lo, stepped))
        if value != held:
            out.append(Change(b.target, value, source=b.label))

    def _move(self, st: _State, d: int, current: Current, out: list[Change], now: float) -> None:
        """Step/cycle (or an encoder on a list): ``d`` items along ``values``."""
        b = st.b
        values = b.values
        n = len(values)
        if n == 0:
            return
        held = self._current(b.target, current)
        index = next((i for i, v in enumerate(values) if _same(v, held)), None)
        if index is None:
            index = 0 if d > 0 else n - 1
            new = index if st.zone is None else st.zone + d
        else:
            new = index + d
        new = new % n if b.mode == "cycle" else min(n - 1, max(0, new))
        st.zone = new
        self._emit(b, values[new], current, out, now, force=b.target_kind == "action")

    def _emit(
        self,
        b: Binding,
        value: ChangeValue,
        current: Current,
        out: list[Change],
        now: float,
        force: bool = False,
    ) -> None:
        target = b.target
        if target == "bank":
            if isinstance(value, int) and value != self.bank:
                self.bank = value
                self.rearm()
                out.append(Change("bank", value, source=b.label))
            return
        if target == "tap_tempo":
            bpm = self._tap.tap(now)
            if bpm is not None:
                self._anchor = (float(bpm), "tap")  # the last tap is a downbeat
            if bpm is not None and bpm != current("config.bpm"):
                out.append(Change("config.bpm", bpm, source=b.label))
            return
        if force or not _same(current(target), value):
            out.append(Change(target, value, b.glide, b.label))
        if target == "scene.recall":
            self.rearm()

    def _current(self, target: str, current: Current) -> ChangeValue:
        return self.bank if target == "bank" else current(target)

    def _system(
        self, event: MidiEvent, now: float, ctrls: list[_Controller], out: list[Change]
    ) -> None:
        label = f"{event.port} {event.kind}".strip()
        if event.kind == "clock":
            if any(c.spec.clock for c in ctrls):
                clock = self._clocks.setdefault(event.port, ClockTempo())
                bpm = clock.tick(now)
                if bpm is not None:
                    out.append(Change("config.bpm", bpm, source=label))
            return
        if event.kind == "start" and event.port in self._clocks:
            bpm = self._clocks[event.port].bpm
            if bpm is not None:
                self._anchor = (float(bpm), "midi clock")  # Start is the clock's downbeat
            self._clocks[event.port].reset()
        if any(c.spec.transport for c in ctrls):
            # MIDI's own meaning: Start plays from the top (a fresh context, on the DJ's
            # downbeat), Continue resumes, Stop stops.
            if event.kind == "start":
                out.append(Change("playback", "reset", source=label))
            action = "stop" if event.kind == "stop" else "play"
            out.append(Change("playback", action, source=label))

    def take_anchor(self) -> tuple[float, str] | None:
        """The downbeat the last event marked (tap, MIDI Start) as (bpm, source), once."""
        anchor, self._anchor = self._anchor, None
        return anchor

    # --- state -----------------------------------------------------------------------
    def rearm(self) -> None:
        """Re-arm takeover on every binding (after a scene recall, a restart, a reload)."""
        for st in self._states:
            st.takeover.rearm()
            st.zone = None

    # --- feedback --------------------------------------------------------------------
    def feedback(self, current: Current) -> list[tuple[str, MidiEvent]]:
        """(controller name, message) for every feedback value that changed since sent."""
        out: list[tuple[str, MidiEvent]] = []
        if not self._lights:
            return out  # asked after every wake: a controller without LEDs costs nothing
        cache: dict[str, ChangeValue] = {"bank": self.bank}
        for c in self._all:
            for st in c.feedback:
                b = st.b
                if b.bank is not None and b.bank != self.bank:
                    continue
                if b.target not in cache:
                    cache[b.target] = current(b.target)
                value = self._feedback_value(b, cache[b.target])
                for msg in _messages(b, value):
                    key = (c.spec.name, msg.kind, msg.channel, msg.number)
                    if self._sent.get(key) != msg.value:
                        self._sent[key] = msg.value
                        out.append((c.spec.name, msg))
        return out

    def resend_feedback(self, controller: str) -> None:
        """Forget what ``controller`` was sent, so the next ``feedback`` re-sends it all."""
        for key in [k for k in self._sent if k[0] == controller]:
            del self._sent[key]

    def _feedback_value(self, b: Binding, value: ChangeValue) -> int:
        fb = b.feedback
        assert fb is not None
        if b.mode in ("toggle", "momentary", "trigger"):
            return fb.on if self._lit(b, value) else fb.off
        if b.target_kind in ("float", "int"):
            if not isinstance(value, int | float) or isinstance(value, bool):
                frac = 0.0 if b.auto != "high" else 1.0
            else:
                raw_max = b.source.raw_max
                frac = tf.inverse(b.transform, float(value), raw_max) / raw_max
        else:
            index = next((i for i, v in enumerate(b.values) if _same(v, value)), 0)
            frac = index / max(1, len(b.values) - 1)
        return round(fb.lo + frac * (fb.hi - fb.lo))

    def _lit(self, b: Binding, value: ChangeValue) -> bool:
        want = b.value
        if b.target == "playback":
            return value == {"toggle": "play"}.get(str(want), want)
        if b.target == "record":
            return bool(value) == (want != "stop")
        if b.target == "scene.recall" and isinstance(want, int):
            return 0 < want <= len(self._scenes) and self._scenes[want - 1] == value
        return _same(value, want)


def _play(b: Binding, inp: Input, out: list[Change]) -> None:
    """A key or pad into the model: every press (and a key's release) as it happens, never
    coalesced or taken over; the note number is the value."""
    pressed = inp.value > 0
    if b.target == "drums":
        if pressed:
            out.append(Change("drums.hit", inp.number, source=b.label))
        return
    out.append(Change("notes.on" if pressed else "notes.off", inp.number, source=b.label))


def _same(a: ChangeValue, b: ChangeValue) -> bool:
    """Equal, with a tolerance for floats (weights glide through tiny differences)."""
    if isinstance(a, float | int) and isinstance(b, float | int):
        if isinstance(a, bool) or isinstance(b, bool):
            return a is b or (bool(a) == bool(b) and type(a) is type(b))
        return abs(a - b) < 1e-9
    return a == b


def _messages(b: Binding, value: int) -> list[MidiEvent]:
    fb = b.feedback
    assert fb is not None
    if fb.kind == "note":
        return [MidiEvent("note_on", fb.channel, fb.number, value)]
    if fb.kind == "cc14":
        return [
            MidiEvent("cc", fb.channel, fb.number, value >> 7),
            MidiEvent("cc", fb.channel, fb.number + 32, value & 0x7F),
        ]
    return [MidiEvent("cc", fb.channel, fb.number, value)]
