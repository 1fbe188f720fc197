"""Launch quantization: hard changes wait for the next bar (or beat) of the heard grid. Pure.

Theory of operation
-------------------
A DJ's mix has bar lines; a bpm change, a new scale, a scene or a start/stop that lands
mid-phrase sounds like a mistake. The ``Quantizer`` sits in front of the Performance:
``hold(change, now)`` keeps a change of a *quantized kind* until its release time, and
``due(now)`` hands back the changes whose time has come, in the order they arrived. The
Instrument applies them then, so everything downstream (the Outbox's RESET_CONTEXT after
bpm/scale, a scene's glide, a STOP's fade) starts at the boundary.

Rules
-----
1. **What waits**: ``config.bpm`` and ``config.scale`` (they bring a RESET_CONTEXT),
   ``scene.recall``, and playback PLAY, STOP and reset (a PAUSE, and a toggle that
   pauses, act at once: silence is asked for now). Everything else passes.
2. **When**: only with ``mode`` "bar" or "beat" and a grid whose confidence is at least
   ``min_confidence``; otherwise changes pass at once (no tempo known, nothing to land on).
3. **Where it lands**: the first boundary ``B`` of the grid at or after ``now + lead``;
   the change is released at ``B - lead`` so that it is *heard* at ``B``. ``lead`` is how
   long a change takes from the Instrument to the listener's ear: ``engine_lead`` for
   what the model must render (bpm, scale, reset, scenes, a PLAY from stopped),
   ``output_lead`` for the local fades of PAUSE/STOP and a resume (the sound card's
   latency). The daemon measures both (``bridge.sync``) and updates them as its buffer
   fills and drains (``set_leads``: what waits keeps its boundary, its release moves). An
   engine that applies a change on its own *next beat* (the embedded one, ``on_beats``)
   gets it ``ON_BEATS_EARLY`` (0.7) of a beat earlier still, so that its next beat is the
   boundary and not the beat after: a busy loop only ever releases late, so most of the
   slack is on that side (it must render in chunks shorter than 0.3 beat: 0.05 s).
4. **Coalescing**: a held change replaces an earlier held change of the same target
   (a bpm knob swept across a bar lands once, at its final value); playback actions
   are never coalesced, like the Outbox's controls.
5. **Refusals are immediate**: ``precheck`` refuses what the Performance would refuse,
   so the status API can answer at once instead of silently dropping it at the bar.
6. A new grid (``set_grid``) re-times what is held onto the new grid; ``mode = "off"``
   or a grid of too little confidence releases it at the next ``due``.
7. **A missed release waits for the next boundary**: a change that ``due`` finds later
   than it can still land (its release passed by more than ``LATE``; ``LATE_ON_BEATS``
   of a beat for an engine landing on its beats, which the early release leaves as
   slack) is re-timed onto the next boundary it can reach, not heard after the bar line.
   That happens when the lead grew under it (the buffer filled since it was timed) or
   the loop was held up.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Literal, get_args

from bridge.core.config_values import check_config_value
from bridge.core.grid import Grid, Unit
from bridge.core.playback import PlayState, resolve
from bridge.core.types import CONFIG_SPECS, Change, Playback

if TYPE_CHECKING:
    from bridge.core.performance import Performance

Mode = Literal["bar", "beat", "off"]
MODES: tuple[str, ...] = get_args(Mode)
MIN_CONFIDENCE = 0.5
ON_BEATS_EARLY = 0.7  # of a beat: see rule 3
# Rule 7. Of the 0.7 beat, 0.3 stays for what the engine renders ahead of the buffer
# (a chunk and a block: ~0.1 s) and the loop's own lateness.
LATE_ON_BEATS = 0.4  # of a beat
LATE = 0.03  # seconds: a fade or a model's change this late is heard after the bar
_CONFIG = frozenset({"config.bpm", "config.scale"})
_WAITING_ACTIONS = frozenset({Playback.PLAY, Playback.STOP, Playback.RESET_CONTEXT})


@dataclass(frozen=True, slots=True)
class Held:
    """A change asked for at ``asked``, waiting: heard at ``boundary``, released at ``at``."""

    change: Change
    asked: float
    at: float
    boundary: float
    local: bool  # heard through a local fade (output lead), not through the engine


def quantized_kind(change: Change, state: PlayState) -> bool | None:
    """None: passes at once; else whether it is heard through a local fade (rule 3)."""
    if change.target in _CONFIG or change.target == "scene.recall":
        return False
    if change.target != "playback":
        return None
    action = resolve(change.value, state)
    if action not in _WAITING_ACTIONS:
        return None
    # a PLAY from stopped waits for the engine's first audio; resume and stop are fades
    starts = action is Playback.PLAY and state == "stopped"
    return not (starts or action is Playback.RESET_CONTEXT)


def precheck(perf: Performance, change: Change) -> str | None:
    """Why the Performance would refuse ``change`` (rule 5), without applying it."""
    spec = CONFIG_SPECS.get(change.target.removeprefix("config."))
    if change.target.startswith("config.") and spec is not None:
        checked = check_config_value(spec, change.value)
        return None if checked.ok else f"{checked.problem} (allowed {checked.allowed})"
    if change.target == "scene.recall" and perf.find_scene(change.value) is None:
        names = ", ".join(s.name for s in perf.scenes) or "none defined"
        return f"no scene {change.value!r} (scenes: {names})"
    return None


class Quantizer:
    """Holds hard changes until the heard grid's next boundary. See the module docstring."""

    def __init__(self, mode: Mode = "bar", min_confidence: float = MIN_CONFIDENCE) -> None:
        if mode not in MODES:
            raise ValueError(f"quantize must be one of {', '.join(MODES)} (got {mode!r})")
        self.mode: Mode = mode
        self.min_confidence = min_confidence
        self.grid: Grid | None = None
        self.engine_lead = 0.0
        self.output_lead = 0.0
        self.on_beats = False
        self._held: list[Held] = []

    @property
    def active(self) -> bool:
        """Rule 2: a mode and a grid sure enough to land on."""
        grid = self.grid
        return self.mode != "off" and grid is not None and grid.confidence >= self.min_confidence

    def set_grid(self, grid: Grid | None) -> None:
        """A new heard grid (or none): what is held is re-timed onto it (rule 6)."""
        self.grid = grid
        self._held = [self._timed(h.change, h.local, h.asked) for h in self._held]

    def set_leads(self, engine: float, output: float, on_beats: bool = False) -> None:
        """How long a change takes to be heard, through the engine and through a fade;
        ``on_beats``: the engine applies changes on its own next beat (rule 3)."""
        self.engine_lead, self.output_lead = max(0.0, engine), max(0.0, output)
        self.on_beats = on_beats
        self._held = [replace(h, at=h.boundary - self._lead(h.local)) for h in self._held]

    def _lead(self, local: bool) -> float:
        if local:
            return self.output_lead
        early = 0.0
        if self.on_beats and self.grid is not None:
            early = self.grid.beat_seconds * ON_BEATS_EARLY
        return self.engine_lead + early

    def hold(self, change: Change, now: float, perf: Performance) -> Held | None:
        """Keep ``change`` for its boundary, or None when it passes at once (rules 1-5:
        a change the Performance would refuse passes, to be refused there and then)."""
        if not self.active:
            return None
        local = quantized_kind(change, perf.state)
        if local is None or precheck(perf, change) is not None:
            return None
        held = self._timed(change, local, now)
        if held.at <= now:
            return None  # on the boundary already
        if change.target != "playback":
            self._held = [h for h in self._held if h.change.target != change.target]
        self._held.append(held)
        return held

    def _timed(self, change: Change, local: bool, now: float) -> Held:
        lead = self._lead(local)
        if not self.active:
            return Held(change, now, now, now, local)
        assert self.grid is not None
        unit: Unit = "beat" if self.mode == "beat" else "bar"
        boundary = self.grid.next_boundary(now + lead, unit)
        return Held(change, now, boundary - lead, boundary, local)

    def due(self, now: float) -> list[Change]:
        """The held changes whose time has come, in arrival order; a missed one is
        re-timed onto the next boundary it can reach (rule 7)."""
        if not self._held:
            return []
        if not self.active:
            ready, self._held = self._held, []
            return [h.change for h in ready]
        ready, waiting = [], []
        for h in self._held:
            if h.at > now:
                waiting.append(h)
            elif now - h.at <= self._late(h.local):
                ready.append(h)
            else:
                waiting.append(self._timed(h.change, h.local, now))
        self._held = waiting
        return [h.change for h in ready]

    def _late(self, local: bool) -> float:
        """How late a release may come and still be heard on its boundary (rule 7)."""
        if self.on_beats and not local and self.grid is not None:
            return self.grid.beat_seconds * LATE_ON_BEATS
        return LATE

    def next_deadline(self) -> float | None:
        return min((h.at for h in self._held), default=None)

    @property
    def held(self) -> tuple[Held, ...]:
        return tuple(self._held)

    def set_mode(self, mode: Mode) -> None:
        if mode not in MODES:
            raise ValueError(f"quantize must be one of {', '.join(MODES)} (got {mode!r})")
        self.mode = mode

    def status(self, now: float) -> dict[str, object]:
        """Mode, grid and what waits (target, value, seconds until heard)."""
        grid = self.grid
        return {
            "mode": self.mode,
            "active": self.active,
            "grid": grid.status(now) if grid is not None else None,
            "lead": {"engine": round(self.engine_lead, 3), "output": round(self.output_lead, 3)},
            "held": [
                {
                    "target": h.change.target,
                    "value": h.change.value,
                    "in": round(max(0.0, h.boundary - now), 3),
                }
                for h in self._held
            ],
        }
