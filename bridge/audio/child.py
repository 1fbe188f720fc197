"""The device process: ``python -m bridge.audio.child FD EFD SPEC WIDTH RATE``.

The only process that initialises PortAudio: when the audio server (jackd, PipeWire)
goes away under an open stream, PortAudio hangs in stop/close and aborts at exit
(``pa_jack.c: Terminate``), and cannot be re-initialised in the same process. This one
opens the output, plays frames from the shared ring (``bridge.audio.shm``), answers one
JSON line on stdout (``{"ok": ...}`` or ``{"error": ...}``), then ``{"lost": ...}`` if its
stream dies, and leaves with ``os._exit``. Device and pipe I/O.
"""

from __future__ import annotations

import json
import os
import sys
import threading
import time
from dataclasses import asdict
from typing import Any

from bridge.audio import devices, shm
from bridge.errors import DeviceError


def main(fd: int, efd: int, spec: str, width: int, rate: int) -> int:
    """Open the output, play the shared ring, report, exit hard.

    It leaves with ``os._exit`` so PortAudio's exit handler never runs against a server
    that vanished (it would hang or abort); the kernel closes its JACK connection.
    """
    try:
        dev = devices.choose(spec, width)
        rate = rate or devices.pick_rate(dev, width)
        stream = _open_stream(shm.SharedRing(width, fd, efd), dev, width, rate)
    except DeviceError as exc:
        _answer({"error": str(exc)})
        os._exit(2)
    _answer({"ok": asdict(dev), "rate": rate})
    threading.Thread(target=_watch_stream, args=(stream,), daemon=True).start()
    sys.stdin.readline()  # "stop", or EOF when the player's process is gone
    stream.stop()
    stream.close()
    devices.sounddevice()._terminate()
    os._exit(0)


def _answer(message: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(message) + "\n")
    sys.stdout.flush()


def _watch_stream(stream: Any) -> None:
    """The stream stops by itself only when its server went away: say so and leave.

    Polled: PortAudio's JACK host API gives no callback when its server vanishes.
    """
    while stream.active:
        time.sleep(0.05)
    _answer({"lost": "the audio stream stopped"})
    os._exit(3)


def _open_stream(ring: shm.SharedRing, dev: devices.OutputDevice, width: int, rate: int) -> Any:
    """A stream whose callback copies from the shared ring (zeros and an xrun when empty)."""
    sd = devices.sounddevice()
    hdr, data = ring.hdr, ring.data
    cap = data.shape[0]
    fence = shm.fence_factory()  # used by the PortAudio thread only

    def callback(out: Any, frames: int, _time: Any, status: Any) -> None:
        written, read = int(hdr[shm.WRITTEN]), int(hdr[shm.READ])
        fence()  # read the frames only after the counter that published them
        n = min(frames, written - read)
        start = read % cap
        first = min(n, cap - start)
        out[:first] = data[start : start + first]
        out[first:n] = data[: n - first]
        if n < frames:
            out[n:] = 0.0
        if status.output_underflow or (n < frames and written):
            hdr[shm.XRUNS] += 1  # the device, or the pump behind it, was late
        hdr[shm.READ] = read + n
        hdr[shm.CALLBACKS] += 1
        ring.signal()  # room for the pump

    try:
        stream = sd.OutputStream(
            device=dev.index, samplerate=rate, channels=width, dtype="float32", callback=callback
        )
        stream.start()
    except Exception as exc:  # PortAudioError: translate at the boundary
        raise DeviceError(f"cannot open audio output {dev}: {exc}") from None
    return stream


if __name__ == "__main__":
    _fd, _efd, _spec, _width, _rate = sys.argv[1:6]
    raise SystemExit(main(int(_fd), int(_efd), _spec, int(_width), int(_rate)))
