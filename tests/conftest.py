"""Shared fixtures: a real JACK server (dummy backend), a JACK recorder, a virtual controller.

These machines have no sound hardware; JACK's dummy backend gives real MIDI ports and a
real audio device in user space (see docs: test-rig.md). Each fixture starts real parts
and stops them by pid/handle at teardown.

* ``jack_server``: a private, named ``jackd`` (48 kHz, 256-frame periods) for one test
  module; ``JACK_DEFAULT_SERVER`` / ``JACK_NO_START_SERVER=1`` are set for this process and
  its children, PortAudio's device list is refreshed. Skips if jackd is not installed.
  ``xruns()`` counts the xruns it logged; ``despite_xruns`` repeats an attempt only when
  one was witnessed.
* ``jack_server_factory``: start further servers, e.g. one at 44.1 kHz.
* ``jack_recorder``: a JACK client with two input ports; ``connect(pattern)`` wires it to
  a player's output ports and ``samples()`` returns what it heard as float32 ``[n, 2]``;
  ``record(seconds)`` returns the next ``seconds`` it hears (counted in frames).
* ``virtual_controller``: a mido virtual output *and* input named like a hardware
  controller on the JACK MIDI API (``send(msg)`` / ``received``), ``close()`` to unplug.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pytest

from tests.jack_park import Park


@dataclass
class JackServer:
    """A running jackd: its name, rate and process."""

    name: str
    rate: int
    proc: subprocess.Popen[bytes]
    log: str

    def xruns(self) -> int:
        """How many xrun lines the server has logged so far: compare two readings.

        On a busy machine the non-realtime dummy server misses cycles ("XRun", one line
        per late client). A period of MIDI written or read across one may be lost or
        read twice, and a period of audio dropped: the rig's imperfection, which a test
        may forgive only when the server witnessed it (this count moved)."""
        try:
            with open(self.log, "rb") as log:
                return log.read().count(b"XRun")
        except OSError:
            return 0

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)


def xrun_tries(server: JackServer, tries: int = 4) -> Iterator[None]:
    """The tries a step gets: the first, and one more after each failed try the server
    logged an xrun during (the rig may have lost its MIDI or audio then). A failure on a
    clean run is final, so a real defect still fails, at the first try. The loop's body
    is the try; leave the loop when it worked."""
    for _ in range(tries):
        before = server.xruns()
        yield
        if server.xruns() == before:
            return


def despite_xruns(server: JackServer, attempt: Callable[[], bool], tries: int = 4) -> bool:
    """``attempt()`` under ``xrun_tries``: whether one try worked."""
    return any(attempt() for _ in xrun_tries(server, tries))


def _refresh_portaudio() -> None:
    """PortAudio reads the device list once: re-read it so the JACK host API appears."""
    try:
        import sounddevice as sd
    except OSError:  # pragma: no cover - libportaudio missing
        return
    _terminate_portaudio()
    sd._initialize()


def _terminate_portaudio() -> None:
    """Leave PortAudio's JACK host API before its server goes away (else abort at exit)."""
    try:
        import sounddevice as sd
    except OSError:  # pragma: no cover
        return
    # PortAudio counts initialisations: terminate every one we (or a test) made.
    while sd._initialized > 0:
        sd._terminate()


def _wait_accepting(name: str, proc: subprocess.Popen[bytes], timeout: float = 10.0) -> None:
    """Wait until the server takes clients (a JACK-Client connection succeeds)."""
    import jack

    deadline = time.monotonic() + timeout
    last: Exception | None = None
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"jackd {name} exited with code {proc.returncode}")
        try:
            client = jack.Client("probe", servername=name, no_start_server=True)
            client.close()
            return
        except jack.JackError as exc:
            last = exc
            time.sleep(0.05)
    raise RuntimeError(f"jackd {name} did not accept clients within {timeout} s: {last}")


def start_jackd(rate: int = 48_000, period: int = 256) -> JackServer:
    """Start a private jackd on the dummy backend and wait until it accepts clients."""
    jackd = shutil.which("jackd")
    if jackd is None:
        pytest.skip("jackd is not installed (apt-get install jackd2): no MIDI/audio rig")
    name = f"pbtest-{uuid.uuid4().hex[:8]}"
    log = f"/tmp/{name}.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [jackd, "--no-realtime", "-n", name, "-d", "dummy", "-r", str(rate), "-p", str(period)],
            stdout=out,
            stderr=subprocess.STDOUT,
            env={**os.environ, "JACK_NO_START_SERVER": "1"},
        )
    server = JackServer(name=name, rate=rate, proc=proc, log=log)
    try:
        _wait_accepting(name, proc)
    except RuntimeError:
        server.stop()
        raise
    return server


@pytest.fixture(scope="module")
def jack_server() -> Iterator[JackServer]:
    """A private JACK dummy server (48 kHz) used by every client of this test module."""
    server = start_jackd()
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("JACK_DEFAULT_SERVER", server.name)
        mp.setenv("JACK_NO_START_SERVER", "1")
        _refresh_portaudio()
        try:
            yield server
        finally:
            _terminate_portaudio()
            server.stop()


@pytest.fixture
def jack_server_factory() -> Iterator[Any]:
    """Start extra servers (e.g. ``factory(rate=44100)``); the caller selects it with env."""
    started: list[JackServer] = []

    def factory(rate: int = 48_000, period: int = 256) -> JackServer:
        server = start_jackd(rate, period)
        started.append(server)
        return server

    yield factory
    for server in started:
        server.stop()


@dataclass
class JackRecorder:
    """A JACK client with two input ports that keeps everything it hears."""

    client: Any
    ports: list[Any]
    blocks: list[np.ndarray] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    recording: bool = True
    park: Park = field(default_factory=Park)

    def process(self, frames: int) -> None:
        self.park.check()
        if not self.recording:
            return
        block = np.stack([p.get_array().copy() for p in self.ports], axis=1)
        with self.lock:
            self.blocks.append(block)

    def connect(self, pattern: str = "PortAudio") -> list[str]:
        """Connect our inputs to the first two audio output ports whose name has PATTERN."""
        sources = self.client.get_ports(pattern, is_audio=True, is_output=True)
        if len(sources) < 2:
            raise AssertionError(f"no two output ports match {pattern!r}: {sources}")
        for src, dst in zip(sources[:2], self.ports, strict=True):
            self.client.connect(src, dst)
        return [p.name for p in sources[:2]]

    def samples(self) -> np.ndarray:
        with self.lock:
            if not self.blocks:
                return np.zeros((0, 2), dtype=np.float32)
            return np.concatenate(self.blocks).astype(np.float32)

    def clear(self) -> None:
        with self.lock:
            self.blocks.clear()

    def record(self, seconds: float, rate: int = 48_000, timeout: float = 30.0) -> np.ndarray:
        """Clear, then keep what arrives until ``seconds`` of frames are in (or timeout).

        Counted in frames, not slept in wall time: on a busy machine the dummy server runs
        slow of real time and drops this client's periods in xruns (seen: 0.49 s heard in
        a 3 s sleep), which leaves too little sound to judge. What is judged is still all
        of it: a dropout in the player's output is silence within these frames."""
        self.clear()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.lock:
                if sum(len(b) for b in self.blocks) >= seconds * rate:
                    break
            time.sleep(0.05)
        return self.samples()[: round(seconds * rate)]


@pytest.fixture
def jack_recorder(jack_server: JackServer) -> Iterator[JackRecorder]:
    """Records, into numpy, whatever reaches its two JACK input ports."""
    import jack

    client = jack.Client("pbrecorder", servername=jack_server.name, no_start_server=True)
    ports = [client.inports.register(f"in_{i}") for i in (1, 2)]
    rec = JackRecorder(client=client, ports=ports)
    client.set_process_callback(rec.process)
    client.activate()
    try:
        yield rec
    finally:
        rec.park.close(client)


class VirtualController:
    """A fake hardware controller on the JACK MIDI API: sends CCs, receives feedback.

    Its input is read from rtmidi's queue by a thread, not through a Python callback:
    a callback runs in JACK's process thread and waits for the GIL, which makes the
    server's cycle overrun and loses or duplicates messages.
    """

    def __init__(self, name: str) -> None:
        import mido

        self.name = name
        self._backend = mido.Backend("mido.backends.rtmidi/UNIX_JACK", load=True)
        self.received: list[Any] = []
        self._lock = threading.Lock()
        self.out: Any = None
        self.inp: Any = None
        self._stop = threading.Event()
        self._reader: threading.Thread | None = None
        self.plug()

    def plug(self) -> None:
        """Create the ports (as plugging the device in would)."""
        import rtmidi

        self.out = self._backend.open_output(self.name, virtual=True)
        self.inp = rtmidi.MidiIn(rtmidi.API_UNIX_JACK, name=f"{self.name}-in")
        self.inp.open_virtual_port(self.name)
        self._stop.clear()
        self._reader = threading.Thread(target=self._read, args=(self.inp,), daemon=True)
        self._reader.start()

    def _read(self, inp: Any) -> None:
        import mido

        while not self._stop.is_set():
            message = inp.get_message()
            if message is None:
                time.sleep(0.002)
                continue
            with self._lock:
                self.received.append(mido.Message.from_bytes(message[0]))

    def messages(self) -> list[Any]:
        with self._lock:
            return list(self.received)

    def clear(self) -> None:
        with self._lock:
            self.received.clear()

    def send(self, msg: Any) -> None:
        self.out.send(msg)

    def unplug(self) -> None:
        """Close the ports (as pulling the USB cable would)."""
        if self.out is not None:
            self.out.close()
            self.out = None
        if self.inp is not None:
            self._stop.set()
            if self._reader is not None:
                self._reader.join(timeout=2)
            self.inp.delete()
            self.inp = None


@pytest.fixture
def virtual_controller(jack_server: JackServer) -> Iterator[VirtualController]:
    """A controller named "FakeController" (unique suffix) on the JACK MIDI API."""
    ctl = VirtualController(f"FakeController{uuid.uuid4().hex[:4]}")
    try:
        yield ctl
    finally:
        ctl.unplug()


@pytest.fixture(autouse=True)
def _restore_root_logging() -> Iterator[None]:
    """Commands run in-process call ``bridge.logs.configure``, which replaces the root
    handlers with one on the (captured, soon closed) stderr: put pytest's back."""
    import logging

    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)
