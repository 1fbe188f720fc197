"""The device process: ``python -m bridge.audio.child FD EFD SPEC MAP RATE``.

The only process that initialises PortAudio: when the audio server (jackd, PipeWire)
goes away under an open stream, PortAudio hangs in stop/close and aborts at exit
(``pa_jack.c: Terminate``), and cannot be re-initialised in the same process. This one
opens the output, plays frames from the shared ring (``bridge.audio.shm``), answers one
JSON line on stdout (``{"ok": ...}`` or ``{"error": ...}``), then ``{"lost": ...}`` if its
stream dies, and leaves with ``os._exit``. Device and pipe I/O.

The output stage (master gain, pause/stop fades, routing: ``bridge.audio.stage``) runs
here, in the device callback (``ChildPlayout``), reading the player's controls from the
shared memory every block: a volume change is heard one device block after it is made,
not after the ~64 ms queued in the ring. What the stage played goes back to the player
through the ``heard`` ring, so a recording holds exactly what the card got.
"""

from __future__ import annotations

import json
import os
import sys
import threading
import time
from dataclasses import asdict
from typing import Any

import numpy as np
import numpy.typing as npt

from bridge.audio import devices, jitter, shm
from bridge.audio.stage import MAX_BLOCK, OutputStage
from bridge.errors import DeviceError


class ChildPlayout:
    """The device callback's work: stream ring → output stage → device block + heard ring.

    No allocation, no locks, no logging (it runs in PortAudio's real-time thread).
    """

    def __init__(self, ring: shm.SharedRing, channel_map: tuple[int, ...], rate: int) -> None:
        self.ring = ring
        ctl = ring.ctl
        step = ctl[shm.STEP] or jitter.fade_step(jitter.FADE_SECONDS, rate)
        gain_step = jitter.gain_step(rate)
        self.stage = OutputStage(channel_map, max(channel_map), ctl[shm.GAIN], step, gain_step)
        self._fence = shm.fence_factory()  # used by the device thread only
        self._short = False

    def callback(self, out: npt.NDArray[np.float32], frames: int, underflow: bool) -> None:
        """Fill ``out`` (``[frames, width]``) for the device."""
        hdr, ctl, stage = self.ring.hdr, self.ring.ctl, self.stage
        stage.control(float(ctl[shm.GAIN]), bool(ctl[shm.PAUSED]), float(ctl[shm.STEP]))
        if hdr[shm.FLUSH_REQ] != hdr[shm.FLUSH_DONE]:
            hdr[shm.READ] = hdr[shm.WRITTEN]  # drop what is queued (STOP, context reset)
            hdr[shm.FLUSH_DONE] = hdr[shm.FLUSH_REQ]
        self._short = False
        done = 0
        while done < frames:
            n = min(frames - done, MAX_BLOCK)
            played = stage.process(out[done : done + n], n, self._take)
            self._hear(played, n)
            done += n
        if underflow or self._short:
            hdr[shm.XRUNS] += 1  # the device, or the pump behind it, was late
        if self._short:
            hdr[shm.GAPS] += 1  # the pump: a gap in the stream a listener hears
        ctl[shm.ENV] = stage.env
        hdr[shm.CALLBACKS] += 1
        if int(hdr[shm.WRITTEN]) - int(hdr[shm.READ]) < ctl[shm.QUEUE] * shm.REFILL:
            self.ring.signal()  # room for the pump to top the queue up

    def _take(self, buf: npt.NDArray[np.float32], frames: int) -> None:
        """The stage's source: frames from the stream ring (zeros when it is short)."""
        hdr = self.ring.hdr
        written, read = int(hdr[shm.WRITTEN]), int(hdr[shm.READ])
        self._fence()  # read the frames only after the counter that published them
        n = min(frames, written - read)
        shm.read_frames(self.ring.data, read, buf, n)
        if n < frames:
            buf[n:frames] = 0.0
            self._short = self._short or written > 0
        hdr[shm.READ] = read + n

    def _hear(self, played: npt.NDArray[np.float32], n: int) -> None:
        """Hand what was played to the player's recording (dropped if it is not drained)."""
        hdr = self.ring.hdr
        w, r = int(hdr[shm.HEARD_W]), int(hdr[shm.HEARD_R])
        if w - r + n > shm.HEARD_FRAMES:
            return
        shm.write_frames(self.ring.heard, w, played, n)
        self._fence()
        hdr[shm.HEARD_W] = w + n


def main(fd: int, efd: int, spec: str, channel_map: tuple[int, ...], rate: int) -> int:
    """Open the output, play the shared ring, report, exit hard.

    It leaves with ``os._exit`` so PortAudio's exit handler never runs against a server
    that vanished (it would hang or abort); the kernel closes its JACK connection.
    """
    width = max(channel_map)
    try:
        dev = devices.choose(spec, width)
        rate = rate or devices.pick_rate(dev, width)
        playout = ChildPlayout(shm.SharedRing(fd, efd), channel_map, rate)
        stream = _open_stream(playout, dev, width, rate)
    except DeviceError as exc:
        _answer({"error": str(exc)})
        os._exit(2)
    _answer({"ok": asdict(dev), "rate": rate, "latency": float(stream.latency)})
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


def _open_stream(playout: ChildPlayout, dev: devices.OutputDevice, width: int, rate: int) -> Any:
    """A stream whose callback is ``playout``'s."""
    sd = devices.sounddevice()

    def callback(out: Any, frames: int, _time: Any, status: Any) -> None:
        playout.callback(out, frames, bool(status.output_underflow))

    try:
        stream = sd.OutputStream(
            device=dev.index, samplerate=rate, channels=width, dtype="float32", callback=callback
        )
        stream.start()
    except Exception as exc:  # PortAudioError: translate at the boundary
        raise DeviceError(f"cannot open audio output {dev}: {exc}") from None
    return stream


if __name__ == "__main__":
    _fd, _efd, _spec, _map, _rate = sys.argv[1:6]
    _channels = tuple(int(c) for c in _map.split(","))
    raise SystemExit(main(int(_fd), int(_efd), _spec, _channels, int(_rate)))
