"""The daemon: a pump between the adapters and the pure instrument. Does I/O.

Theory of operation (see docs/design)::

    MidiHub ──on_midi──▶ Instrument.midi ─┐
    status API / demo ──apply──▶ Instrument.apply ─▶ Outcome (refusal or clamp, replied)
    _control_task: Instrument.poll(now) ─▶ [Effect] performed in order:
        Send ─▶ Engine.apply · SetGain/Fade ─▶ Player · Record ─▶ Player's recorder ·
        Feedback ─▶ MidiHub.send · SaveState ─▶ a worker thread · StatusChanged ─▶ push
      then sleeps until Instrument.next_deadline() or the next input
    _audio_task:   Engine.chunks ─▶ Player.feed, waiting for the player's wake-up when full
    _files_task:   inotify (watchfiles) on the mapping and rig files, or SIGHUP ─▶ reload
    Sync.run:      the heard grid ─▶ quantizer, MIDI clock out, Link (``bridge.sync``)

Every decision (what to send, which gain, when to save) is the instrument's; the daemon
only moves values between it and the adapters (``Parts``), so each part stays testable
alone and tests drive the very same instrument (``bridge.core.drive``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bridge.config import load_mapping
from bridge.core.instrument import (
    Effect,
    Fade,
    Feedback,
    Instrument,
    Outcome,
    PlayNote,
    Record,
    SaveState,
    Send,
    SetGain,
    StatusChanged,
)
from bridge.core.mapping import MappingSet
from bridge.core.outbox import Outbox
from bridge.core.performance import Performance
from bridge.core.share import WireDelay, bridge_share
from bridge.core.types import Change, ChangeValue, MidiEvent, SetConfig
from bridge.engines import supports_of
from bridge.engines.base import Engine, NoteSink
from bridge.errors import BridgeError, ConfigError, DeviceError
from bridge.io.systemd import Notifier
from bridge.parts import (
    Counters,
    Parts,
    describe,
    no_controllers,
    process_stats,
    recording_path,
)
from bridge.rig import RigSettings, load_rig
from bridge.state import load_snapshot, save_snapshot
from bridge.sync import Sync

log = logging.getLogger("promptbridge")


class Daemon:
    """One running instrument. ``await run()`` until ``stop()`` or a signal."""

    def __init__(
        self,
        settings: RigSettings,
        mapping: MappingSet,
        parts: Parts,
        *,
        rig_path: Path | None = None,
        state_path: Path | None = None,
        fresh: bool = False,
        clock: Callable[[], float] = time.monotonic,
        notifier: Notifier | None = None,
        outbox_interval: float = 0.05,
    ) -> None:
        self.settings = settings
        self.parts = parts
        self.rig_path = rig_path
        self.state_path = state_path
        self.fresh = fresh
        self.clock = clock
        self.notifier = notifier or Notifier()
        # an engine that ignores bpm/scale (magenta) must not get a RESET_CONTEXT for them
        outbox = Outbox(interval=outbox_interval, resets=supports_of(parts.engine).resets)
        self.instrument = Instrument(
            mapping, rig_gain=settings.gain, outbox=outbox, quantize=settings.quantize or "bar"
        )
        self.counters = Counters()
        self.wire_delay = WireDelay()  # knob-to-wire, for the status (core/share)
        self.on_change: list[Callable[[Change], None]] = []  # observers (demo narration)
        self._wake = asyncio.Event()
        self._stopping = asyncio.Event()
        self._engine_up = False  # wire updates before the engine started are replayed
        self.started = asyncio.Event()  # set once the engine is up and the state replayed
        self._ready = False
        self._tasks: list[asyncio.Task[None]] = []
        self._status_server: Any = None
        self._midi_problem: str | None = None  # why there are no controllers (status page)
        self._osc_server: Any = None
        self.sync = Sync(
            self.instrument,
            parts.player,
            parts.clock_out,
            parts.link,
            settings.link,
            clock,
            apply=self.apply,
            wake=self._wake.set,
        )

    @property
    def mapping(self) -> MappingSet:
        return self.instrument.mapping

    @property
    def perf(self) -> Performance:
        return self.instrument.perf

    # --- inputs ------------------------------------------------------------------------
    def on_midi(self, event: MidiEvent) -> None:
        """A MIDI event from any controller (called on the loop)."""
        now = self.clock()
        changes = self.instrument.midi(event, now)
        if changes:
            self.wire_delay.input(now)
        for change in changes:
            self._observe(change)
        self._wake.set()

    def apply(self, change: Change) -> Outcome:
        """Apply one Change from any input; the Outcome says if it was refused or clamped."""
        now = self.clock()
        outcome = self.instrument.apply(change, now)
        if outcome.refused is None:
            self.wire_delay.input(now)
            self._observe(change)
        self._wake.set()
        return outcome

    def _observe(self, change: Change) -> None:
        for observer in self.on_change:
            observer(change)

    def current(self, target: str) -> ChangeValue:
        return self.instrument.current(target)

    # --- lifecycle ---------------------------------------------------------------------
    def stop(self) -> None:
        self._stopping.set()
        self._wake.set()

    async def run(self) -> int:
        """Run until stopped; returns the exit code (0 for a clean stop)."""
        loop = asyncio.get_running_loop()
        self._install_signals(loop)
        self._restore_state()
        await asyncio.to_thread(self.parts.player.start)
        if self.parts.recorder is not None:
            self.instrument.recording_started()  # --record: shown, and a control stops it
        # Inputs before the engine: a model server slow to answer setup (up to 10 s) must
        # not leave the knobs and the status page dead; what they change is replayed below.
        midi = asyncio.create_task(self._midi_task(loop), name="midi")
        control = asyncio.create_task(self._control_task(), name="control")
        if self.parts.status is not None:
            self._status_server = self.parts.status(self.snapshot, self.apply)
            await self._status_server.start()
        await self.sync.start()
        if self.parts.osc is not None:
            self._osc_server = self.parts.osc(self.snapshot, self.apply, lambda: self.mapping.osc)
            await self._osc_server.start()
        await self._start_engine()
        if self.settings.autoplay and not self.perf.playing:
            self.apply(Change("playback", "play", source="autoplay"))
        self._tasks = [
            control,
            asyncio.create_task(self._audio_task(), name="audio"),
            asyncio.create_task(self._files_task(), name="files"),
            asyncio.create_task(self._watchdog_task(), name="watchdog"),
            asyncio.create_task(self.sync.run(), name="sync"),
            midi,
        ]
        code = await self._until_stopped()
        await self._shutdown()
        return code

    async def _start_engine(self) -> None:
        engine = self.parts.engine
        engine.on_news(self._engine_news)
        await engine.start()
        log.info("engine %s started", engine.name)
        self._engine_up = True
        for effect in self.instrument.replay(self.clock()):
            await self._perform(effect)
        self._wake.set()
        self.started.set()

    async def _until_stopped(self) -> int:
        failed = asyncio.create_task(self._first_failure())
        await asyncio.wait(
            [failed, asyncio.create_task(self._stopping.wait())],
            return_when=asyncio.FIRST_COMPLETED,
        )
        code = 0
        if failed.done() and failed.exception() is None and failed.result() is not None:
            log.error("stopping: %s", failed.result())
            code = 1
        failed.cancel()
        return code

    async def _first_failure(self) -> BaseException | None:
        """Waits for a task to die with an error (a bug or a fatal session error)."""
        done, _ = await asyncio.wait(self._tasks, return_when=asyncio.FIRST_EXCEPTION)
        for task in done:
            if not task.cancelled() and task.exception() is not None:
                return task.exception()
        await self._stopping.wait()
        return None

    async def _shutdown(self) -> None:
        """Fade out, close the session (1000), finish the WAV, save state: within 2 s.

        The closers run concurrently (each bounded), so a slow one (a JACK client, a
        session that won't answer its close frame) cannot push the exit past systemd's
        or the performer's patience.
        """
        started = self.clock()
        self.notifier.stopping()
        player = self.parts.player
        with contextlib.suppress(Exception):
            player.fade_out(0.05)
        await asyncio.sleep(0.06)
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        player.set_wakeup(None)  # the loop is about to go: the audio thread must not call it
        closers: list[Any] = [self.parts.engine.close(), asyncio.to_thread(player.close)]
        if self._status_server is not None:
            closers.append(self._status_server.close())
        if self._osc_server is not None:
            closers.append(self._osc_server.close())
        if self.parts.hub is not None:
            closers.append(self.parts.hub.close())
        closers += self.sync.closers()
        results = await asyncio.gather(
            *(asyncio.wait_for(c, timeout=1.2) for c in closers), return_exceptions=True
        )
        for result in results:
            if isinstance(result, BaseException):
                log.debug("while stopping: %r", result)
        if self.parts.recorder is not None:
            with contextlib.suppress(Exception):
                self.parts.recorder.close()
        self._write_state(self.perf.snapshot())
        log.info("stopped in %.2f s", self.clock() - started)

    def _install_signals(self, loop: asyncio.AbstractEventLoop) -> None:
        # Not on Windows' loop (NotImplementedError) or off the main thread (RuntimeError,
        # e.g. a test driving the daemon in a thread): signals then stay Python's default.
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(signal.SIGTERM, self.stop)
            loop.add_signal_handler(signal.SIGINT, self.stop)
            loop.add_signal_handler(signal.SIGHUP, self.reload)

    # --- the pump ----------------------------------------------------------------------
    async def _control_task(self) -> None:
        """Perform the instrument's effects, then sleep until its deadline or an input."""
        while not self._stopping.is_set():
            self._wake.clear()
            effects = self.instrument.poll(self.clock())
            for effect in effects:
                await self._perform(effect)
            if any(isinstance(e, Send) for e in effects):
                self.wire_delay.sent(self.clock())
            elif self.instrument.outbox.next_deadline() is None:
                self.wire_delay.idle()  # a local-only change: nothing goes on the wire
            deadline = self.instrument.next_deadline()
            timeout = None if deadline is None else max(0.0, deadline - self.clock())
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout)

    async def _perform(self, effect: Effect) -> None:
        """Do what one effect says, through the adapter it names."""
        player = self.parts.player
        if isinstance(effect, Send):
            if isinstance(effect.update, SetConfig):
                player.set_bpm(effect.update.config.bpm)  # a concealment loop is one bar
            if self._engine_up:  # before that, the replay will carry the state
                await self.parts.engine.apply(effect.update)
        elif isinstance(effect, PlayNote):
            if self._engine_up and isinstance(self.parts.engine, NoteSink):
                self.parts.engine.apply_note(effect.change)  # a key: never coalesced
        elif isinstance(effect, SetGain):
            player.gain = effect.gain
        elif isinstance(effect, Fade):
            self._fade(effect)
        elif isinstance(effect, Feedback):
            self._feedback(effect)
        elif isinstance(effect, Record):
            self._record(effect.on)
        elif isinstance(effect, SaveState):
            # write + fsync take milliseconds on an SD card: never on the loop
            self._background(asyncio.to_thread(self._write_state, effect.snapshot))
        elif isinstance(effect, StatusChanged):
            for server in (self._status_server, self._osc_server):
                if server is not None:
                    server.notify()

    def _fade(self, fade: Fade) -> None:
        """A pause is heard now, without a click; a stop also drops what is buffered."""
        player = self.parts.player
        self.sync.fade(fade.direction, fade.flush)
        if fade.direction == "in":
            player.fade_in()
            return
        player.fade_out()
        if fade.flush:
            player.flush()

    def _feedback(self, effect: Feedback) -> None:
        hub = self.parts.hub
        if hub is not None:
            with contextlib.suppress(BridgeError, OSError):  # a controller just unplugged
                hub.send(effect.controller, effect.event)

    def _record(self, on: bool) -> None:
        """Start or stop the player's recording as the instrument says."""
        player = self.parts.player
        if not on:
            # Joining the writer thread may take a moment: never on the loop.
            self._background(asyncio.to_thread(player.stop_recording))
            log.info("recording stopped")
            return
        path = recording_path(self.settings.record)
        try:
            player.start_recording(path)
        except (BridgeError, OSError) as exc:
            log.error("cannot record to %s: %s", path, exc)
            self.instrument.recording_stopped(self.clock())
            return
        log.info("recording to %s", path)

    def _background(self, coro: Any) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.append(task)
        task.add_done_callback(self._forget)

    def _forget(self, task: asyncio.Task[Any]) -> None:
        if task in self._tasks and task.done() and task.exception() is None:
            self._tasks.remove(task)

    # --- adapters' tasks ---------------------------------------------------------------
    async def _midi_task(self, loop: asyncio.AbstractEventLoop) -> None:
        """Open the controllers beside the audio (opening JACK/ALSA clients takes a while)."""
        hub = self.parts.hub
        if hub is None:
            return
        try:
            await hub.start(loop, self.on_midi, self._on_controller)
        except DeviceError as exc:
            # A rig without a MIDI system still plays its saved state and obeys the
            # status API; the performer sees why the knobs are dead.
            log.error("MIDI unavailable, continuing without controllers: %s", exc)
            self._midi_problem = f"MIDI unavailable: {exc}"
            self.parts.hub = None
            self._wake.set()

    async def _audio_task(self) -> None:
        """Engine chunks → player; the player's high mark is the backpressure, and its
        wake-up (from the audio thread) says when it wants more: no polling."""
        player = self.parts.player
        room = asyncio.Event()
        loop = asyncio.get_running_loop()

        def wake() -> None:  # runs on the audio thread
            loop.call_soon_threadsafe(room.set)

        player.set_wakeup(wake)
        async for chunk in self.parts.engine.chunks():
            self.sync.fed(chunk)  # before the feed: its first frame is heard after the queue
            player.feed(chunk)
            self.counters.chunks += 1
            if not self._ready:
                self._ready = True
                self.notifier.ready(f"streaming from {self.parts.engine.name}")
                log.info("audio flowing (%s engine)", self.parts.engine.name)
            self._recorder_news()
            while not self._stopping.is_set():
                room.clear()  # before asking: a wake-up after the answer is not lost
                if player.wants_more():
                    break
                await room.wait()

    def _engine_news(self) -> None:
        """The engine says its status has news (``Engine.on_news``): prompts it filtered."""
        now = self.clock()
        for item in self.parts.engine.status().get("filtered_prompts", ()):
            text = item.get("text") if isinstance(item, dict) else None
            if text:
                self.instrument.mark_filtered(text, now)
        self._wake.set()

    def _recorder_news(self) -> None:
        """A recording the player had to stop (a full disk) is shown stopped; asked once a
        chunk, and only while recording (the player's stats are a dict built per call)."""
        if self.perf.recording and self.parts.player.stats().get("record_error"):
            self.instrument.recording_stopped(self.clock())
            self._wake.set()

    async def _files_task(self) -> None:
        """Reload when a mapping or the rig file changes on disk (inotify via watchfiles)."""
        from watchfiles import awatch

        while not self._stopping.is_set():
            watched = {p.resolve() for p in self._watched()}
            folders = {str(p.parent) for p in watched if p.parent.is_dir()}
            if not folders:
                return

            # Only our files pass: a recording written beside the mapping (--record
            # set.wav next to set.toml) changes its folder ten times a second, and each
            # change woke this task and logged a line for the whole set.
            def ours(_change: object, path: str, watched: set[Path] = watched) -> bool:
                return Path(path).resolve() in watched

            async for _ in awatch(
                *folders, watch_filter=ours, recursive=False, stop_event=self._stopping, step=50
            ):
                self.reload()
                break  # the set of files may have changed: watch again

    async def _watchdog_task(self) -> None:
        interval = self.notifier.watchdog_interval
        if interval is None:
            return
        while not self._stopping.is_set():
            self.notifier.watchdog()  # proves the loop itself is alive, not just the process
            await asyncio.sleep(interval)

    # --- reload, controllers, state -----------------------------------------------------
    def _watched(self) -> list[Path]:
        files = list(self.mapping.files)
        if self.rig_path is not None:
            files.append(self.rig_path)
        return files

    def reload(self) -> bool:
        """Reload the mapping files; on any error log every problem and keep the old one."""
        paths = list(self.mapping.files)
        try:
            if self.rig_path is not None:
                load_rig(self.rig_path)  # validated; device settings apply on restart
            mapping = load_mapping(paths) if paths else self.mapping
            check_engine(mapping, self.parts.engine)
        except ConfigError as exc:
            self.counters.reload_errors += 1
            for problem in exc.problems:
                log.error("reload failed, previous mapping kept: %s", problem)
            return False
        self.instrument.reload(mapping, self.clock())
        self.counters.reloads += 1
        log.info("mapping reloaded from %s", ", ".join(str(p) for p in paths) or "defaults")
        self._wake.set()
        return True

    def _on_controller(self, name: str, present: bool) -> None:
        self.instrument.controller(name, present)
        if present:
            log.info("controller %s connected", name)
            self._wake.set()
        else:
            log.warning("controller %s disconnected; waiting for it to come back", name)

    def _restore_state(self) -> None:
        if self.state_path is None:
            return
        if self.fresh:
            log.info("--fresh: starting from the mapping, not from %s", self.state_path)
            return
        snapshot = load_snapshot(self.state_path)
        if snapshot:
            self.instrument.restore(snapshot)
            log.info("restored from %s: %s", self.state_path, describe(self.perf))

    def _write_state(self, snapshot: dict[str, Any]) -> None:
        """Write a snapshot taken on the loop (this part may run in a worker thread)."""
        if self.state_path is None:
            return
        try:
            save_snapshot(self.state_path, snapshot)
        except OSError as exc:
            log.warning("could not save state to %s: %s", self.state_path, exc.strerror)

    # --- status ------------------------------------------------------------------------
    def snapshot(self) -> dict[str, Any]:
        """Everything the status API shows (never a secret)."""
        hub = self.parts.hub
        counts = self.instrument.counters
        audio = self.parts.player.stats()
        return {
            "performance": self.perf.snapshot(),
            "engine": self.parts.engine.status(),
            "audio": audio,
            "latency": bridge_share(self.wire_delay.figures(), audio),
            "controllers": hub.present() if hub is not None else {},
            "controllers_reason": no_controllers(self.mapping, hub, self._midi_problem),
            "bank": self.instrument.mapper.bank,
            "outbox": {
                "silenced": self.instrument.outbox.silenced,
                "wire": self.instrument.outbox.wire_state,
            },
            "counters": {
                "changes": counts.changes,
                "refused": counts.refused,
                "updates": counts.updates,
                "chunks": self.counters.chunks,
                "reloads": self.counters.reloads,
                "reload_errors": self.counters.reload_errors,
            },
            "sync": self.sync.status(self.clock()),
            "process": process_stats(self.counters.started),
            "osc": self._osc_server.stats() if self._osc_server is not None else None,
        }


def check_engine(mapping: MappingSet, engine: Engine) -> None:
    """Raise ConfigError when ``mapping`` has bindings ``engine`` cannot play (notes)."""
    from bridge.config.engine_check import engine_problems

    problems = engine_problems(mapping, engine.name, supports_of(engine))
    if problems:
        raise ConfigError(problems)
