"""The outbox: turns the Performance into the minimal stream of wire Updates. No I/O.

Theory of operation
-------------------
The daemon calls ``sync(perf, now)`` after every change or tick, then ``poll(now)`` for
the Updates to send, and sleeps until ``next_deadline()``. ``replay(perf)`` gives the
whole state to send after a (re)connect and makes it the new wire state. While the
engine is disconnected the daemon may drop what ``poll`` returns: the replay covers it.

The outbox keeps what the model was last told (prompts, config, playback state, the
bpm/scale of the current context) and sends only differences, by these rules:

1. **Coalesce per message type.** Prompts and config each keep only their latest value.
2. **Rate limit with a leading edge.** The first change after a quiet ``interval`` goes
   out at once; later ones go out at most once per ``interval`` (default 0.05 s, 20
   frames/s). The final value of a move always goes out within one ``interval``.
3. **Whole config.** A SetConfig always carries every field (the API resets omitted
   ones); ``None`` fields are "auto" and the codec omits them.
4. **Never an empty prompt set.** Zero weights are dropped (by the Performance). When
   every fader is down, no SetPrompts is sent: the last non-empty set stays on the wire
   and, if playing, the outbox sends PAUSE (silence, as the performer asked; PromptDJ
   does the same). When a fader comes back up, the new set goes out (in its rate-limit
   slot) immediately followed by PLAY.
   The Performance still says "playing" throughout: this pause is the outbox's own.
5. **bpm/scale need RESET_CONTEXT.** When the config's bpm or scale differs from the
   context's, the outbox sends the config (if not sent yet) and THEN RESET_CONTEXT (the
   other order is ignored by the model). Resets are hard transitions, so at most one per
   ``reset_interval`` (default 0.5 s) with the same leading edge / final-value rule; a
   reset also waits for its config's rate-limit slot. A STOP also resets the context.
6. **Playback controls are never coalesced.** Every action in ``perf.controls`` is sent,
   in order; before each, pending prompts and config are flushed (bypassing the rate
   limit) so a PLAY finds its prompts. A PLAY with no prompt to play is held back until a
   fader comes up (rule 4). Finally the model's playback state is reconciled with the
   Performance's (e.g. after controls were lost to a full log).
"""

from __future__ import annotations

from dataclasses import dataclass

from bridge.core.performance import Performance
from bridge.core.playback import PlayState, after
from bridge.core.types import (
    Control,
    GenerationConfig,
    Playback,
    SetConfig,
    SetPrompts,
    Update,
    WeightedPrompt,
)

NEVER = float("-inf")


@dataclass
class OutboxStats:
    """Counters for the status API."""

    prompt_frames: int = 0
    config_frames: int = 0
    controls: int = 0
    resets: int = 0
    silence_pauses: int = 0


class Outbox:
    """Minimal, rate-limited wire updates from a Performance. See the module docstring."""

    def __init__(
        self,
        interval: float = 0.05,
        reset_interval: float = 0.5,
        resets: frozenset[str] = frozenset({"bpm", "scale"}),
    ) -> None:
        self.interval = interval
        self.reset_interval = reset_interval
        self.resets = frozenset(resets)  # the config fields that need RESET_CONTEXT
        self._reset_fields = tuple(sorted(resets))
        self._ctx_for: GenerationConfig | None = None
        self._ctx: tuple[object, ...] = ()
        self.stats = OutboxStats()
        # what the performance wants
        self._prompts: tuple[WeightedPrompt, ...] = ()
        self._config: GenerationConfig | None = None
        self._want = PlayState.STOPPED
        self._controls: list[Playback] = []
        self._perf: Performance | None = None
        self._seen_seq = 0
        self._synced_at = NEVER
        # what the model was told
        self._sent_prompts: tuple[WeightedPrompt, ...] | None = None
        self._sent_config: GenerationConfig | None = None
        self._context: tuple[object, ...] | None = None
        self._server = PlayState.STOPPED  # what the model was told, by the one table
        self._prompt_at = NEVER
        self._config_at = NEVER
        self._reset_at = NEVER

    # --- input -----------------------------------------------------------------------
    def sync(self, perf: Performance, now: float) -> None:
        """Take the Performance's current state (and any new playback controls)."""
        self._prompts = perf.wire_prompts()
        self._config = perf.config
        self._want = perf.state
        self._synced_at = now
        if perf is not self._perf:  # a new Performance (e.g. after a reload) counts from 0
            self._perf, self._seen_seq = perf, 0
        if perf.control_seq == self._seen_seq:
            return  # no new control: skip scanning the log (up to 256 entries) per change
        for seq, action in perf.controls:
            if seq > self._seen_seq:
                self._controls.append(action)
        self._seen_seq = perf.control_seq

    def replay(self, perf: Performance) -> list[Update]:
        """Everything a fresh session needs: prompts, config, PLAY if playing.

        The session's context starts with this config, so no RESET_CONTEXT follows.
        Controls requested before the replay are considered done by it.
        """
        self._perf, self._seen_seq = perf, perf.control_seq
        self._controls.clear()
        self._prompts, self._config, self._want = perf.wire_prompts(), perf.config, perf.state
        prompts = self._prompts or self._sent_prompts
        out: list[Update] = []
        if prompts:
            out.append(SetPrompts(prompts))
        out.append(SetConfig(perf.config))
        self._sent_prompts, self._sent_config = prompts, perf.config
        self._context = self._context_of(perf.config)
        self._server = PlayState.STOPPED
        if perf.playing and self._prompts:
            out.append(Control(Playback.PLAY))
            self._server = PlayState.PLAYING
        return out

    # --- output ----------------------------------------------------------------------
    def poll(self, now: float) -> list[Update]:
        """The Updates due at ``now``, in wire order."""
        out: list[Update] = []
        for action in self._controls:
            self._flush(now, out)
            self._control(action, now, out)
        self._controls.clear()
        if self._prompt_due(now):
            self._send_prompts(now, out)
        if self._config_dirty() and now >= self._config_at + self.interval:
            self._send_config(now, out)
        if self._reset_due(now):
            self._send_reset(now, out)
        self._reconcile(now, out)
        return out

    def step(self, perf: Performance, now: float) -> list[Update]:
        """``sync`` then ``poll``: the usual call after a change or a tick."""
        self.sync(perf, now)
        return self.poll(now)

    def next_deadline(self) -> float | None:
        """When ``poll`` next has something to send (None: nothing pending)."""
        times = []
        if self._controls:
            times.append(self._synced_at)
        if self._prompts and self._prompts != self._sent_prompts:
            times.append(self._prompt_at + self.interval)
        if self._config_dirty():
            times.append(self._config_at + self.interval)
        if self._reset_pending():
            times.append(self._reset_time())
        return min(times) if times else None

    @property
    def wire_state(self) -> PlayState:
        """What the model was last told: "stopped", "playing" or "paused"."""
        return self._server

    @property
    def silenced(self) -> bool:
        """True while the outbox holds the model paused because every prompt is at 0."""
        return self._want == "playing" and not self._prompts

    # --- rules -----------------------------------------------------------------------
    def _context_of(self, config: GenerationConfig) -> tuple[object, ...]:
        """The config fields that only change with a new context (rule 5). Asked on every
        poll; configs are immutable, so the answer is kept for the last one asked about."""
        if config is not self._ctx_for:
            self._ctx_for = config
            self._ctx = tuple(getattr(config, name) for name in self._reset_fields)
        return self._ctx

    def _prompt_due(self, now: float) -> bool:
        # the clock first: during a knob storm most polls fall inside the interval
        if now < self._prompt_at + self.interval or not self._prompts:
            return False
        return self._prompts is not self._sent_prompts and self._prompts != self._sent_prompts

    def _config_dirty(self) -> bool:
        # identity first: comparing two configs field by field is the slow path
        config = self._config
        return (
            config is not None and config is not self._sent_config and config != self._sent_config
        )

    def _reset_pending(self) -> bool:
        if self._config is None or self._context is None:
            return False
        return self._context_of(self._config) != self._context

    def _reset_time(self) -> float:
        """When the pending reset may go: its own limit, and after the config it needs."""
        config_slot = self._config_at + self.interval if self._config_dirty() else NEVER
        return max(self._reset_at + self.reset_interval, config_slot)

    def _reset_due(self, now: float) -> bool:
        return self._reset_pending() and now >= self._reset_time()

    def _send_prompts(self, now: float, out: list[Update]) -> None:
        out.append(SetPrompts(self._prompts))
        self._sent_prompts, self._prompt_at = self._prompts, now
        self.stats.prompt_frames += 1

    def _send_config(self, now: float, out: list[Update]) -> None:
        assert self._config is not None
        out.append(SetConfig(self._config))
        self._sent_config, self._config_at = self._config, now
        if self._context is None:
            # nothing was generated yet: the first config defines the context
            self._context = self._context_of(self._config)
        self.stats.config_frames += 1

    def _send_reset(self, now: float, out: list[Update]) -> None:
        if self._config_dirty():
            self._send_config(now, out)  # config first, THEN the reset
        out.append(Control(Playback.RESET_CONTEXT))
        assert self._config is not None
        self._context, self._reset_at = self._context_of(self._config), now
        self.stats.resets += 1

    def _flush(self, now: float, out: list[Update]) -> None:
        """Send pending prompts and config now, ignoring the rate limit."""
        if self._prompts and self._prompts != self._sent_prompts:
            self._send_prompts(now, out)
        if self._config_dirty():
            self._send_config(now, out)

    def _control(self, action: Playback, now: float, out: list[Update]) -> None:
        if action is Playback.PLAY and not self._prompts:
            return  # nothing to play: held until a fader comes up (rule 4)
        if action is Playback.RESET_CONTEXT:
            self._send_reset(now, out)
            return
        out.append(Control(action))
        self.stats.controls += 1
        self._server = after(self._server, action)
        if action is Playback.STOP and self._sent_config is not None:
            self._context = self._context_of(self._sent_config)

    def _reconcile(self, now: float, out: list[Update]) -> None:
        """Bring the model's playback state to what the performance wants."""
        if self._want == "playing" and self._prompts and self._server != "playing":
            if self._prompts == self._sent_prompts:  # else wait for the prompts' slot
                self._control(Playback.PLAY, now, out)
        elif self._want == "playing" and not self._prompts and self._server == "playing":
            self._control(Playback.PAUSE, now, out)
            self.stats.silence_pauses += 1
        elif self._want == "paused" and self._server == "playing":
            self._control(Playback.PAUSE, now, out)
        elif self._want == "stopped" and self._server != "stopped":
            self._control(Playback.STOP, now, out)
