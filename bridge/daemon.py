"""The daemon: one asyncio loop gluing controllers, the pure core, an engine and the player.

Theory of operation (see docs/design)::

    MidiHub ──on_midi──▶ Mapper ─▶ [Change] ─▶ apply() ─▶ Performance ─▶ Outbox
    status API ─────────────────────────────────┘                          │
    _control_task: Outbox.poll ─▶ Engine.apply (one at a time, in order) ◀─┘
    _audio_task:   Engine.chunks ─▶ Player.feed, pausing while the jitter buffer is full
    _files_task:   mapping/rig file changed (or SIGHUP) ─▶ reload, keep the old on error
    _state_task:   performance snapshot saved atomically a second after it changes

Every input (MIDI, status API, the demo script) goes through ``apply()``, the one place
where a Change touches the performance. The daemon owns no protocol or DSP logic: it only
moves values between the parts, so each part stays testable alone. It does I/O only
through the adapters it is given (``Parts``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import resource
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from bridge.config import load_mapping
from bridge.core.mapper import Mapper
from bridge.core.mapping import NOTE_CHANGES, MappingSet
from bridge.core.outbox import Outbox
from bridge.core.performance import Performance
from bridge.core.types import (
    AudioChunk,
    Change,
    ChangeValue,
    Control,
    MidiEvent,
    PerformanceSpec,
    Playback,
    Update,
)
from bridge.engines import supports_of
from bridge.engines.base import Engine, NoteSink
from bridge.errors import BridgeError, ConfigError, DeviceError
from bridge.io.systemd import Notifier
from bridge.rig import RigSettings, load_rig
from bridge.state import load_snapshot, save_snapshot

log = logging.getLogger("promptbridge")


class PlayerLike(Protocol):
    """What the daemon needs of the audio player (bridge.audio.player.Player)."""

    gain: float

    def feed(self, chunk: AudioChunk) -> None: ...
    def wants_more(self) -> bool: ...
    def stats(self) -> dict[str, Any]: ...
    def fade_out(self, seconds: float = ...) -> None: ...
    def fade_in(self, seconds: float = ...) -> None: ...
    def close(self) -> None: ...
    def start(self) -> None: ...
    def flush(self) -> None: ...
    def start_recording(self, path: str | Path) -> None: ...
    def stop_recording(self) -> None: ...


@dataclass
class Parts:
    """The adapters a daemon drives; built by ``bridge.commands.run`` (tests build their own)."""

    engine: Engine
    player: PlayerLike
    hub: Any = None  # bridge.io.midi.MidiHub, or None without MIDI
    recorder: Any = None  # bridge.audio.recorder.Recorder, or None
    status: Any = None  # bridge.status.server.StatusServer factory, or None


@dataclass
class Counters:
    changes: int = 0
    updates: int = 0
    reloads: int = 0
    reload_errors: int = 0
    chunks: int = 0
    started: float = field(default_factory=time.monotonic)


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
        clock: Callable[[], float] = time.monotonic,
        notifier: Notifier | None = None,
        outbox_interval: float = 0.05,
    ) -> None:
        self.settings = settings
        self.mapping = mapping
        self.parts = parts
        self.rig_path = rig_path
        self.state_path = state_path
        self.clock = clock
        self.notifier = notifier or Notifier()
        self.perf = Performance(mapping.performance)
        self.mapper = Mapper(mapping)
        # an engine that ignores bpm/scale must not get a RESET_CONTEXT for them
        self.outbox = Outbox(interval=outbox_interval, resets=supports_of(parts.engine).resets)
        self.counters = Counters()
        self.on_change: list[Callable[[Change], None]] = []  # observers (demo narration)
        self._wake = asyncio.Event()
        self._stopping = asyncio.Event()
        self._dirty_since: float | None = None
        self._ready = False
        self._mtimes = self._watched_mtimes()
        self._tasks: list[asyncio.Task[None]] = []
        self._status_server: Any = None

    # --- inputs ------------------------------------------------------------------------
    def on_midi(self, event: MidiEvent) -> None:
        """A MIDI event from any controller (called on the loop)."""
        for change in self.mapper.handle(event, self.clock(), self.perf.get):
            self.apply(change)

    def apply(self, change: Change) -> None:
        """Apply one Change from any input: performance, local audio, outbox, observers."""
        if change.target in NOTE_CHANGES:
            self._note(change)
            return
        now = self.clock()
        self.perf.apply(change, now)
        self.counters.changes += 1
        if change.target == "scene.recall":
            self.mapper.rearm()  # knobs must not jump the recalled scene
        elif change.target == "master_volume" and isinstance(change.value, int | float):
            self.parts.player.gain = float(change.value)
        elif change.target == "record":
            self._record()
        # the outbox syncs once per control-task wake (set below), not once per change
        self._dirty_since = self._dirty_since or now
        for observer in self.on_change:
            observer(change)
        self._wake.set()
        if self._status_server is not None:
            self._status_server.notify()

    def _note(self, change: Change) -> None:
        """Keys and pads go straight to the engine: events, never coalesced or saved.
        (``check`` refuses notes bindings for an engine that is not a NoteSink.)"""
        engine = self.parts.engine
        if isinstance(engine, NoteSink):
            engine.apply_note(change)
            self.counters.changes += 1

    def current(self, target: str) -> ChangeValue:
        return self.perf.get(target)

    # --- lifecycle ---------------------------------------------------------------------
    def stop(self) -> None:
        self._stopping.set()
        self._wake.set()

    async def run(self) -> int:
        """Run until stopped; returns the exit code (0 for a clean stop)."""
        loop = asyncio.get_running_loop()
        self._install_signals(loop)
        self._restore_state()
        engine = self.parts.engine
        await asyncio.to_thread(self.parts.player.start)
        # Inputs before the engine: a model server slow to answer setup (up to 10 s) must
        # not leave the knobs and the status page dead; what they change is replayed below.
        midi = asyncio.create_task(self._midi_task(loop), name="midi")
        if self.parts.status is not None:
            self._status_server = self.parts.status(self.snapshot, self.apply)
            await self._status_server.start()
        await engine.start()
        log.info("engine %s started", engine.name)
        for update in self.outbox.replay(self.perf):
            await engine.apply(update)
        self.outbox.sync(self.perf, self.clock())
        self.outbox.poll(self.clock())  # the replay already sent the current state
        if self.parts.recorder is not None:
            self.perf.recording = True  # --record: the status shows it, a control stops it
        if self.settings.autoplay and not self.perf.playing:
            self.apply(Change("playback", "play", source="autoplay"))
        self._tasks = [
            asyncio.create_task(self._control_task(), name="control"),
            asyncio.create_task(self._audio_task(), name="audio"),
            asyncio.create_task(self._files_task(), name="files"),
            asyncio.create_task(self._state_task(), name="state"),
            asyncio.create_task(self._watchdog_task(), name="watchdog"),
            midi,
        ]
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
        await self._shutdown()
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
        closers: list[Any] = [self.parts.engine.close(), asyncio.to_thread(player.close)]
        if self._status_server is not None:
            closers.append(self._status_server.close())
        if self.parts.hub is not None:
            closers.append(self.parts.hub.close())
        results = await asyncio.gather(
            *(asyncio.wait_for(c, timeout=1.2) for c in closers), return_exceptions=True
        )
        for result in results:
            if isinstance(result, BaseException):
                log.debug("while stopping: %r", result)
        if self.parts.recorder is not None:
            with contextlib.suppress(Exception):
                self.parts.recorder.close()
        self._save_state()
        log.info("stopped in %.2f s", self.clock() - started)

    def _install_signals(self, loop: asyncio.AbstractEventLoop) -> None:
        # Not on Windows' loop (NotImplementedError) or off the main thread (RuntimeError,
        # e.g. a test driving the daemon in a thread): signals then stay Python's default.
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(signal.SIGTERM, self.stop)
            loop.add_signal_handler(signal.SIGINT, self.stop)
            loop.add_signal_handler(signal.SIGHUP, self.reload)

    # --- tasks -------------------------------------------------------------------------
    async def _control_task(self) -> None:
        """Outbox → engine, in order; glides ticked; feedback sent; sleeps until a deadline."""
        engine = self.parts.engine
        while not self._stopping.is_set():
            now = self.clock()
            self.perf.tick(now)
            self.outbox.sync(self.perf, now)
            updates = self.outbox.poll(now)
            for update in updates:
                self._local_playback(update)
                await engine.apply(update)
                self.counters.updates += 1
            if updates and self._status_server is not None:
                self._status_server.notify()  # glides move weights with no Change
            self._send_feedback()
            deadlines = [d for d in (self.perf.next_deadline(), self.outbox.next_deadline()) if d]
            timeout = max(0.0, min(deadlines) - self.clock()) if deadlines else None
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout)

    def _local_playback(self, update: Update) -> None:
        """Fade the local buffer with the model's playback: no clicks, and a pause is heard now."""
        if not isinstance(update, Control):
            return
        player = self.parts.player
        if update.action is Playback.PLAY:
            player.fade_in()
        elif update.action is Playback.PAUSE:
            player.fade_out()
        elif update.action is Playback.STOP:
            player.fade_out()
            player.flush()

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
            self.parts.hub = None

    async def _audio_task(self) -> None:
        """Engine chunks → player; the player's high mark is the backpressure."""
        player = self.parts.player
        async for chunk in self.parts.engine.chunks():
            player.feed(chunk)
            self.counters.chunks += 1
            if not self._ready:
                self._ready = True
                self.notifier.ready(f"streaming from {self.parts.engine.name}")
                log.info("audio flowing (%s engine)", self.parts.engine.name)
            while not player.wants_more() and not self._stopping.is_set():
                await asyncio.sleep(0.01)

    async def _files_task(self) -> None:
        """Reload when a mapping or the rig file changes on disk (polled: works everywhere)."""
        while not self._stopping.is_set():
            await asyncio.sleep(0.5)
            mtimes = self._watched_mtimes()
            if mtimes != self._mtimes:
                self._mtimes = mtimes
                self.reload()

    async def _state_task(self) -> None:
        while not self._stopping.is_set():
            await asyncio.sleep(0.5)
            if self._dirty_since is not None and self.clock() - self._dirty_since >= 1.0:
                # write + fsync take milliseconds on an SD card: never on the loop
                self._dirty_since = None
                await asyncio.to_thread(self._write_state, self.perf.snapshot())
            self._sync_filtered()
            self._sync_recording()

    def _sync_recording(self) -> None:
        """A recording the player had to stop (disk full) is shown as stopped."""
        if not self.perf.recording:
            return
        stats = self.parts.player.stats()
        if stats.get("record_error"):
            self.perf.recording = False
            if self._status_server is not None:
                self._status_server.notify()

    def _sync_filtered(self) -> None:
        """Prompts the model filtered are shown in the status (the engine never resends them)."""
        for item in self.parts.engine.status().get("filtered_prompts", ()):
            text = item.get("text") if isinstance(item, dict) else None
            if text and text.strip() not in self.perf.filtered:
                self.perf.mark_filtered(text)

    async def _watchdog_task(self) -> None:
        interval = self.notifier.watchdog_interval
        if interval is None:
            return
        while not self._stopping.is_set():
            self.notifier.watchdog()  # proves the loop itself is alive, not just the process
            await asyncio.sleep(interval)

    # --- reload, feedback, state --------------------------------------------------------
    def _watched(self) -> list[Path]:
        files = list(self.mapping.files)
        if self.rig_path is not None:
            files.append(self.rig_path)
        return files

    def _watched_mtimes(self) -> dict[Path, float]:
        mtimes: dict[Path, float] = {}
        for path in self._watched():
            with contextlib.suppress(OSError):
                mtimes[path] = path.stat().st_mtime_ns
        return mtimes

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
        snapshot = carry_over(self.perf.snapshot(), self.mapping.performance, mapping.performance)
        self.mapping = mapping
        self.mapper = Mapper(mapping)
        self.perf = Performance(mapping.performance)
        self.perf.restore(snapshot)
        self.mapper.rearm()
        self.outbox.sync(self.perf, self.clock())
        self.counters.reloads += 1
        self._mtimes = self._watched_mtimes()
        log.info("mapping reloaded from %s", ", ".join(str(p) for p in paths) or "defaults")
        self._wake.set()
        return True

    def _on_controller(self, name: str, present: bool) -> None:
        if present:
            log.info("controller %s connected", name)
            self.mapper.resend_feedback(name)
            self._wake.set()
        else:
            log.warning("controller %s disconnected; waiting for it to come back", name)

    def _send_feedback(self) -> None:
        hub = self.parts.hub
        if hub is None:
            return
        for controller, message in self.mapper.feedback(self.perf.get):
            with contextlib.suppress(BridgeError, OSError):
                hub.send(controller, message)

    def _record(self) -> None:
        """Make the player's recording follow the performance's record flag."""
        player = self.parts.player
        stats = player.stats()
        active = stats.get("recording") is not None and not stats.get("record_error")
        if self.perf.recording and not active:
            path = recording_path(self.settings.record)
            try:
                player.start_recording(path)
            except (BridgeError, OSError) as exc:
                log.error("cannot record to %s: %s", path, exc)
                self.perf.recording = False
                return
            log.info("recording to %s", path)
        elif not self.perf.recording and active:
            # Joining the writer thread may take a moment: never on the loop.
            self._background(asyncio.to_thread(player.stop_recording))
            log.info("recording stopped")

    def _background(self, coro: Any) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.append(task)

    def _restore_state(self) -> None:
        if self.state_path is None:
            return
        snapshot = load_snapshot(self.state_path)
        if snapshot:
            self.perf.restore(snapshot)
            self.mapper.rearm()
            log.info("restored prompts, config and scene from %s", self.state_path)

    def _save_state(self) -> None:
        self._dirty_since = None
        self._write_state(self.perf.snapshot())

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
        return {
            "performance": self.perf.snapshot(),
            "engine": self.parts.engine.status(),
            "audio": self.parts.player.stats(),
            "controllers": hub.present() if hub is not None else {},
            "bank": self.mapper.bank,
            "outbox": {"silenced": self.outbox.silenced, "wire": self.outbox.wire_state},
            "counters": {
                "changes": self.counters.changes,
                "updates": self.counters.updates,
                "chunks": self.counters.chunks,
                "reloads": self.counters.reloads,
                "reload_errors": self.counters.reload_errors,
            },
            "process": process_stats(self.counters.started),
        }


def check_engine(mapping: MappingSet, engine: Engine) -> None:
    """Raise ConfigError when ``mapping`` has bindings ``engine`` cannot play (notes)."""
    from bridge.config.engine_check import engine_problems

    problems = engine_problems(mapping, engine.name, supports_of(engine))
    if problems:
        raise ConfigError(problems)


def recording_path(configured: str | None, now: float | None = None) -> Path:
    """Where a recording started from a control goes: beside ``--record``'s file, or in
    the XDG data directory, named by the time it started (never overwriting a set)."""
    stamp = time.strftime("%Y%m%d-%H%M%S", time.localtime(now))
    if configured:
        base = Path(configured).expanduser()
        return base.with_name(f"{base.stem}-{stamp}{base.suffix or '.wav'}")
    root = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    folder = Path(root) / "promptbridge" / "recordings"
    folder.mkdir(parents=True, exist_ok=True)
    return folder / f"set-{stamp}.wav"


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


def process_stats(started: float) -> dict[str, float]:
    """CPU (as % of one core since start) and resident memory, from the kernel's counters."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    elapsed = max(1e-6, time.monotonic() - started)
    rss_mb = 0.0
    with contextlib.suppress(OSError, ValueError, IndexError), open("/proc/self/statm") as f:
        rss_mb = int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20
    return {
        "cpu_percent": round(100 * (usage.ru_utime + usage.ru_stime) / elapsed, 1),
        "rss_mb": round(rss_mb, 1),
        "peak_rss_mb": round(usage.ru_maxrss / 1024, 1),
        "uptime": round(elapsed, 1),
    }
