"""MIDI ports in and out: the only importer of python-rtmidi. Does device I/O.

Bytes are read and written by ``bridge.core.midi`` (``parse``/``encode``, the one MIDI
parser); this module only moves them between ports and the loop.

Usage (on the asyncio loop)::

    hub = MidiHub(api="auto")                       # "auto" | "alsa" | "jack"
    hub.add_controller(spec)                        # a bridge.core.mapping.ControllerSpec
    hub.add_controller(controller("nano", "re:nanoKONTROL2", output="nanoKONTROL2"))
    await hub.start(loop, on_event, on_change)      # on_event(MidiEvent)
                                                    # on_change(name, present: bool)
    hub.send("nano", MidiEvent("cc", 0, 32, 127))   # feedback: LEDs, rings, motor faders
    hub.present()                                   # {"nano": True, ...}
    await hub.close()

Matching (``bridge.core.mapping.match_ports``): a case-insensitive substring, or a regex
(``re:`` prefix in ``controller()``, or ``spec.regex``); an exact name wins over partial
matches; ``index`` picks among identical devices; "Midi Through" and our own ports are
never matched.

Each event's ``port`` is the **controller name** (so the mapper can tell two controllers
apart); ``time`` is the loop clock (``loop.time()``) when the bytes arrived. Events from
the virtual input (default "PromptBridge", for a DAW or sequencer) carry that name.

Threads: rtmidi queues incoming bytes in C++; one reader thread drains every open input
every ~2 ms, parses the bytes into ``MidiEvent``s (``bridge.core.midi.parse``) and
hands them over with ``call_soon_threadsafe``. (Not rtmidi's Python callback: under JACK
it runs in the JACK process thread, which then waits for the GIL; the server's cycle
overruns and messages are lost or duplicated. Measured here: 100 quick CCs arrived wrong
in 6 runs of 8 with a callback, right in 8 of 8 with the queue.) A poll task (every
0.25 s) enumerates ports off the loop (``asyncio.to_thread``), closes ports whose device
vanished, reopens them when it comes back (so within ~0.5 s), re-sends the last feedback
value of every LED/ring/fader, and reports each change through ``on_change``. A
controller absent at start is simply waited for.

API choice: ``api`` "alsa" or "jack" selects rtmidi's API; "auto" honours
``MIDO_BACKEND`` (e.g. ``mido.backends.rtmidi/UNIX_JACK``), else ALSA, or JACK where
ALSA does not answer. libjack's and alsa-lib's own complaints while probing
are kept off the terminal (``bridge.io.cstderr``); when no system answers, one
DeviceError says which were tried and what to start or install.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import rtmidi

from bridge.aio import cancelled
from bridge.core.mapping import ControllerSpec, match_ports
from bridge.core.midi import encode, parse
from bridge.core.types import MidiEvent
from bridge.errors import DeviceError
from bridge.io.cstderr import quiet_c_stderr

log = logging.getLogger(__name__)

OWN_PREFIX = "PromptBridge"  # every client we open starts with this: never matched
POLL_SECONDS = 0.25
# The reader thread polls (a Python callback inside JACK's real-time process thread could
# wait for the GIL and make the whole graph miss its deadline). While a set is played (a
# message in the last 30 s) it polls every 2 ms, so a knob touched after a pause is not
# up to 5 ms late; after 30 quiet seconds every 5 ms, which halves its cost on an idle rig
# (measured: 1.45 % of a core against 2.85 % for the thread).
READ_SECONDS = 0.002
IDLE_READ_SECONDS = 0.005
IDLE_AFTER = 30.0
QUEUE_LIMIT = 4096  # rtmidi's queue per input: ~8 s of a flat-out MIDI cable

_APIS = {"alsa": rtmidi.API_LINUX_ALSA, "jack": rtmidi.API_UNIX_JACK}
_ALSA_SEQ = "/dev/snd/seq"
# mido backend API names (MIDO_BACKEND=mido.backends.rtmidi/<NAME>) → ours
_MIDO_APIS = {"LINUX_ALSA": "alsa", "UNIX_JACK": "jack"}

OnEvent = Callable[[MidiEvent], None]
OnChange = Callable[[str, bool], None]


def resolve_api(api: str = "auto", env: dict[str, str] | None = None) -> str:
    """``auto`` | ``alsa`` | ``jack``; with ``auto``, MIDO_BACKEND may name the API."""
    if api in _APIS:
        return api
    if api != "auto":
        raise DeviceError(f"midi api must be one of auto, alsa, jack (got {api!r})")
    backend = (env if env is not None else os.environ).get("MIDO_BACKEND", "")
    return _MIDO_APIS.get(backend.rpartition("/")[2], "auto")


def candidates(api: str) -> list[str]:
    """The MIDI systems to try, in order: ``auto`` is ALSA, then JACK (jackd, or
    PipeWire's JACK support) where python-rtmidi has it. (ALSA without a sequencer
    fails at once, and its failure is worth reporting.)"""
    if api != "auto":
        return [api]
    if rtmidi.API_UNIX_JACK in rtmidi.get_compiled_api():
        return ["alsa", "jack"]
    return ["alsa"]


def _why(system: str, exc: Exception) -> str:
    """Why one MIDI system did not answer, and what to start or install."""
    if system == "jack":
        server = os.environ.get("JACK_DEFAULT_SERVER")
        named = f" named {server!r}" if server else ""
        return (
            f"JACK: no JACK server{named} is running (start one with jackd or qjackctl, "
            "or install PipeWire's JACK support, pipewire-jack)"
        )
    if not os.path.exists(_ALSA_SEQ):
        return f"ALSA: no sequencer device {_ALSA_SEQ} (load it: sudo modprobe snd-seq)"
    return f"ALSA: cannot open the sequencer ({exc}; is this user in the audio group?)"


def open_client(api: str, cls: Any, name: str, **options: Any) -> tuple[str, Any]:
    """An rtmidi client (``cls`` is MidiIn or MidiOut) on the first MIDI system of
    ``candidates(api)`` that answers: (the system, the client). The libraries' own
    complaints about an absent server are kept off the terminal; if no system answers,
    one DeviceError says which were tried and what to do."""
    reasons = []
    for system in candidates(api):
        try:
            with quiet_c_stderr():
                return system, cls(_APIS[system], name=name, **options)
        except rtmidi.SystemError as exc:
            reasons.append(_why(system, exc))
    raise DeviceError("no MIDI system is available; tried " + "; ".join(reasons))


# What another adapter (io/clock_out) needs of rtmidi, so that this module stays its only
# importer: an output client, and the errors a port may raise.
MIDI_ERRORS: tuple[type[Exception], ...] = (rtmidi.RtMidiError, ValueError)


def open_output(api: str, name: str) -> tuple[str, Any]:
    """A MidiOut client on the first MIDI system of ``candidates(api)`` that answers."""
    return open_client(api, rtmidi.MidiOut, name)


def controller(
    name: str,
    match: str,
    index: int = 0,
    output: str | None = None,
    channel: int | None = None,
) -> ControllerSpec:
    """A ControllerSpec from a ``--midi-in`` style pattern (``re:`` prefix = regex)."""
    regex = match.startswith("re:")
    port = match[3:] if regex else match
    if output is not None and output.startswith("re:"):
        output, regex = output[3:], True
    return ControllerSpec(
        name=name, port=port, regex=regex, index=index, output=output, channel=channel
    )


@dataclass
class _Controller:
    """One controller's ports and state (touched on the loop, and in to_thread calls)."""

    spec: ControllerSpec
    midi_in: Any = None  # rtmidi.MidiIn, created on first open
    midi_out: Any = None
    in_port: str | None = None  # the port name we have open
    out_port: str | None = None
    feedback: dict[tuple[Any, ...], MidiEvent] = field(default_factory=dict)

    @property
    def present(self) -> bool:
        return self.in_port is not None


class MidiHub:
    """Every MIDI input and output the daemon uses, kept open across hot-plugs."""

    def __init__(
        self, api: str = "auto", virtual: str | None = OWN_PREFIX, poll: float = POLL_SECONDS
    ) -> None:
        self.api = resolve_api(api)  # the system that answered, once started
        self._virtual_name = virtual
        self._poll_seconds = poll
        self._controllers: dict[str, _Controller] = {}
        self._loop: asyncio.AbstractEventLoop | None = None
        self._on_event: OnEvent | None = None
        self._on_change: OnChange | None = None
        self._virtual: Any = None
        self._probe_in: Any = None
        self._probe_out: Any = None
        self._task: asyncio.Task[None] | None = None
        self._reader = _Reader(self._deliver)

    # --- configuration -----------------------------------------------------------------
    def add_controller(
        self,
        spec: ControllerSpec | str,
        match: str | None = None,
        index: int = 0,
        output: str | None = None,
    ) -> None:
        """Watch for a controller (before or after ``start``): a ControllerSpec, or a
        name and a ``--midi-in`` style pattern (``re:`` prefix = regex)."""
        if isinstance(spec, str):
            spec = controller(spec, match if match is not None else spec, index, output)
        if spec.name in self._controllers:
            raise DeviceError(f"controller {spec.name!r} is listed twice")
        self._controllers[spec.name] = _Controller(spec)

    def present(self) -> dict[str, bool]:
        """Which controllers are connected right now."""
        return {name: c.present for name, c in self._controllers.items()}

    # --- life cycle ----------------------------------------------------------------------
    async def start(
        self, loop: asyncio.AbstractEventLoop, on_event: OnEvent, on_change: OnChange
    ) -> None:
        """Open the virtual port and every controller present; then keep polling."""
        self._loop, self._on_event, self._on_change = loop, on_event, on_change
        await asyncio.to_thread(self._open_probes)
        await self.poll_once()
        absent = [n for n, c in self._controllers.items() if not c.present]
        for name in absent:
            log.warning("controller %s not found; waiting for it", name)
        self._task = loop.create_task(self._poll_forever(), name="midi-poll")

    def _open_probes(self) -> None:
        self.api, self._probe_in = open_client(self.api, rtmidi.MidiIn, f"{OWN_PREFIX}-probe")
        _, self._probe_out = open_client(self.api, rtmidi.MidiOut, f"{OWN_PREFIX}-probe")
        if self._virtual_name:
            self._virtual = self._new_in(self._virtual_name)
            self._virtual.open_virtual_port(self._virtual_name)
            self._reader.add(self._virtual, self._virtual_name)
        self._reader.start()

    def _new_in(self, client: str) -> Any:
        _, midi_in = open_client(self.api, rtmidi.MidiIn, client, queue_size_limit=QUEUE_LIMIT)
        # clock and sysex matter to us; active sensing is noise
        midi_in.ignore_types(sysex=False, timing=False, active_sense=True)
        return midi_in

    async def close(self) -> None:
        """Stop polling and close every port."""
        await cancelled(self._task)
        self._task = None
        await asyncio.to_thread(self._close_all)

    def _close_all(self) -> None:
        self._reader.stop()
        for c in self._controllers.values():
            self._close_in(c)
            self._close_out(c)
            for port in (c.midi_in, c.midi_out):
                if port is not None:
                    port.delete()
            c.midi_in = c.midi_out = None
        for port in (self._virtual, self._probe_in, self._probe_out):
            if port is not None:
                port.delete()
        self._virtual = self._probe_in = self._probe_out = None

    # --- the reader thread ----------------------------------------------------------------
    def _deliver(self, data: list[int], name: str) -> None:
        """Runs on the reader thread: parse, then hand over to the loop. Nothing else."""
        loop = self._loop
        if loop is None or self._on_event is None:
            return
        event = parse(data, name, loop.time())
        if event is not None:
            with contextlib.suppress(RuntimeError):  # the loop closed during shutdown
                loop.call_soon_threadsafe(self._on_event, event)

    # --- polling and hot-plug ------------------------------------------------------------
    async def _poll_forever(self) -> None:
        failing = False
        while True:
            await asyncio.sleep(self._poll_seconds)
            try:
                await self.poll_once()
            except Exception as exc:  # a flaky enumeration must not kill MIDI for good
                if not failing:  # once per outage, not four times a second
                    log.error("MIDI port poll failed (retrying): %s", exc)
                failing = True
            else:
                if failing:
                    log.info("MIDI port poll works again")
                failing = False

    async def poll_once(self) -> None:
        """Enumerate ports (off the loop), reopen/close controllers, report changes."""
        changes, outputs = await asyncio.to_thread(self._reconcile)
        for name in outputs:  # a (re)opened output gets the whole LED/fader state again
            self._resend(self._controllers[name])
        for name, present in changes:
            if present:
                log.info("controller %s connected", name)
            else:
                log.warning("controller %s disconnected", name)
            if self._on_change is not None:
                self._on_change(name, present)

    def _ports(self) -> tuple[list[str], list[str]]:
        ins = [p for p in self._probe_in.get_ports() if not p.startswith(OWN_PREFIX)]
        outs = [p for p in self._probe_out.get_ports() if not p.startswith(OWN_PREFIX)]
        return ins, outs

    def _reconcile(self) -> tuple[list[tuple[str, bool]], list[str]]:
        """Worker thread: make the open ports follow the port list.

        Returns the presence changes and the controllers whose feedback output opened.
        """
        ins, outs = self._ports()
        changes: list[tuple[str, bool]] = []
        outputs: list[str] = []
        for name, c in list(self._controllers.items()):
            was = c.present
            if c.in_port is not None and c.in_port not in ins:
                self._close_in(c)
            if c.in_port is None:
                wanted = match_ports(c.spec, ins)
                if wanted is not None:
                    self._open_in(c, wanted)
            reopened = c.present and not was
            if c.out_port is not None and (c.out_port not in outs or reopened):
                # a device that came back between two polls has a new port under the
                # old name: our old connection is dead, so reconnect with its input
                self._close_out(c)
            if c.out_port is None and c.spec.output is not None:
                wanted = match_ports(c.spec, outs, output=True)
                if wanted is not None:
                    self._open_out(c, wanted)
                    if c.out_port is not None:
                        outputs.append(name)
            if c.present != was:
                changes.append((name, c.present))
        return changes, outputs

    def _open_in(self, c: _Controller, port: str) -> None:
        if c.midi_in is None:
            c.midi_in = self._new_in(f"{OWN_PREFIX}-{c.spec.name}"[:60])
        names = c.midi_in.get_ports()
        if port not in names:
            return  # vanished between the probe and now: next poll
        try:
            c.midi_in.open_port(names.index(port), name=f"{c.spec.name} in")
        except rtmidi.SystemError as exc:
            log.warning("cannot open MIDI input %s: %s", port, exc)
            return
        self._reader.add(c.midi_in, c.spec.name)
        c.in_port = port

    def _close_in(self, c: _Controller) -> None:
        if c.midi_in is not None and c.in_port is not None:
            self._reader.remove(c.midi_in)
            c.midi_in.close_port()
        c.in_port = None

    def _open_out(self, c: _Controller, port: str) -> None:
        if c.midi_out is None:
            _, c.midi_out = open_client(
                self.api, rtmidi.MidiOut, f"{OWN_PREFIX}-{c.spec.name}-out"[:60]
            )
        names = c.midi_out.get_ports()
        if port not in names:
            return
        try:
            c.midi_out.open_port(names.index(port), name=f"{c.spec.name} feedback")
        except rtmidi.SystemError as exc:
            log.warning("cannot open MIDI output %s: %s", port, exc)
            return
        c.out_port = port

    def _close_out(self, c: _Controller) -> None:
        if c.midi_out is not None and c.out_port is not None:
            c.midi_out.close_port()
        c.out_port = None

    # --- feedback ------------------------------------------------------------------------
    def send(self, name: str, event: MidiEvent) -> None:
        """Send feedback to a controller, and remember it to re-send after a reconnect."""
        c = self._controllers.get(name)
        if c is None:
            raise DeviceError(f"no controller named {name!r}")
        try:
            data = encode(event)
        except ValueError as exc:
            raise DeviceError(f"bad feedback message {event}: {exc}") from None
        key = (event.kind, event.channel, event.number, event.data)
        c.feedback.pop(key, None)  # re-insert: replay keeps the order of the last sends
        c.feedback[key] = event
        self._write(c, data)

    def _write(self, c: _Controller, data: bytes) -> None:
        if c.midi_out is None or c.out_port is None:
            return  # absent: the cached state goes out when it is back
        try:
            c.midi_out.send_message(data)
        except (rtmidi.SystemError, ValueError) as exc:
            log.warning("MIDI send to %s failed: %s", c.spec.name, exc)

    def _resend(self, c: _Controller) -> None:
        for event in c.feedback.values():
            self._write(c, encode(event))


class _Reader:
    """The thread that drains rtmidi's queues (see the module docstring for why)."""

    def __init__(self, deliver: Callable[[list[int], str], None]) -> None:
        self._deliver = deliver
        self._inputs: tuple[tuple[Any, str], ...] = ()  # replaced whole: no lock to read
        self._lock = threading.Lock()  # serialises add/remove/close against a drain
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="midi-reader", daemon=True)
            self._thread.start()

    def add(self, midi_in: Any, name: str) -> None:
        with self._lock:
            self._inputs = (*self._inputs, (midi_in, name))

    def remove(self, midi_in: Any) -> None:
        """After this returns, the reader no longer touches ``midi_in`` (safe to close)."""
        with self._lock:
            self._inputs = tuple(i for i in self._inputs if i[0] is not midi_in)

    def _run(self) -> None:
        last = time.monotonic()
        while not self._stop.is_set():
            with self._lock:
                got = self._drain()
            now = time.monotonic()
            if got:
                last = now
            else:
                time.sleep(READ_SECONDS if now - last < IDLE_AFTER else IDLE_READ_SECONDS)

    def _drain(self) -> bool:
        got = False
        for midi_in, name in self._inputs:
            while (message := midi_in.get_message()) is not None:
                self._deliver(message[0], name)
                got = True
        return got

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=2)
            self._thread = None
        self._inputs = ()


def list_ports(api: str = "auto") -> tuple[list[str], list[str]]:
    """(input port names, output port names) for ``promptbridge devices``."""
    resolved, midi_in = open_client(resolve_api(api), rtmidi.MidiIn, f"{OWN_PREFIX}-list")
    try:
        _, midi_out = open_client(resolved, rtmidi.MidiOut, f"{OWN_PREFIX}-list")
    except DeviceError:
        midi_in.delete()
        raise
    try:
        return list(midi_in.get_ports()), list(midi_out.get_ports())
    finally:
        midi_in.delete()
        midi_out.delete()


class MidiReader:
    """One input for a blocking reader (``learn``): ``find`` it by pattern (as often as
    needed while waiting for it to be plugged in), ``open`` it, then ``poll()`` drains it."""

    def __init__(self, api: str = "auto") -> None:
        self.api, self._in = open_client(
            resolve_api(api), rtmidi.MidiIn, f"{OWN_PREFIX}-learn", queue_size_limit=QUEUE_LIMIT
        )
        self._in.ignore_types(sysex=False, timing=True, active_sense=True)
        self.port = ""

    def inputs(self) -> list[str]:
        """Every input port now, except our own."""
        return [p for p in self._in.get_ports() if not p.startswith(OWN_PREFIX)]

    def find(self, pattern: str, index: int = 0) -> str | None:
        """The input ``pattern`` matches now, or None; ``*`` with several is an error."""
        spec = controller("learn", pattern, index=index)
        ins = self.inputs()
        visible = [p for p in ins if spec.matches(p)]
        if pattern == "*" and len(visible) > 1:
            listing = "; ".join(visible)
            raise DeviceError(f"several MIDI inputs ({listing}): choose one with --midi-in")
        return match_ports(spec, ins)

    def open(self, port: str) -> None:
        names = self._in.get_ports()
        if port not in names:
            raise DeviceError(f"MIDI input {port!r} vanished while opening it")
        self._in.open_port(names.index(port), name="learn in")
        self.port = port

    def poll(self, now: float) -> list[MidiEvent]:
        """Every message queued since the last call, parsed (stamped with ``now``)."""
        events = []
        while (message := self._in.get_message()) is not None:
            event = parse(message[0], self.port, now)
            if event is not None:
                events.append(event)
        return events

    def close(self) -> None:
        self._in.delete()
