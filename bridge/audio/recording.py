"""The recording tap: what the output played goes to a ring, a writer thread puts it in a WAV.

Does file I/O (in its writer thread, through ``WavRecorder``). ``capture`` is called by
the audio side and never blocks, logs or allocates: when the writer falls more than
``RECORD_SECONDS`` behind, frames are counted as lost instead of waited for. The writer
sleeps until ``capture`` has queued ``BATCH_SECONDS`` of audio (an event, not a timer), so
a paused or idle player costs no wake-ups. A write error (disk full) stops the recording,
never the playback, and is kept in ``error`` for the status API.
"""

from __future__ import annotations

import logging
import threading
from pathlib import Path

import numpy as np
import numpy.typing as npt

from bridge.audio.recorder import RecorderError, WavRecorder
from bridge.audio.ring import Ring

log = logging.getLogger(__name__)

RECORD_SECONDS = 10.0  # the writer thread may stall this long without loss
BATCH_SECONDS = 0.05  # the writer wakes once this much is queued (or at stop)


class RecordTap:
    """One recording at a time, of stereo float32 frames at ``rate``."""

    def __init__(self, rate: int) -> None:
        self.rate = rate
        self.error: str | None = None
        self.lost = 0  # frames dropped because the writer stalled
        self._ring = Ring(round(RECORD_SECONDS * rate))
        self._batch = round(BATCH_SECONDS * rate)
        self._recorder: WavRecorder | None = None
        self._active = False
        self._wake = threading.Event()
        self._stopping = False
        self._thread: threading.Thread | None = None

    @property
    def path(self) -> Path | None:
        return None if self._recorder is None else self._recorder.path

    # --- the audio side --------------------------------------------------------------
    def capture(self, frames: npt.NDArray[np.float32]) -> None:
        """Queue played frames for the file (no-op when not recording)."""
        if not self._active:
            return
        if self._ring.write(frames) < frames.shape[0]:
            self.lost += frames.shape[0]  # the writer thread stalled: never wait for it
        if self._ring.fill >= self._batch and not self._wake.is_set():
            self._wake.set()

    # --- the control side ------------------------------------------------------------
    def start(self, rec: WavRecorder) -> None:
        """Record into ``rec`` from now on (stops any recording first)."""
        self.stop()
        self._recorder = rec
        self.error = None
        self._stopping = False
        self._wake.clear()
        self._ring.clear_reader()
        self._thread = threading.Thread(target=self._run, name="wav-writer", daemon=True)
        self._thread.start()
        self._active = True
        log.info("recording to %s", rec.path)

    def stop(self) -> None:
        """Stop recording; everything captured up to now is in the file."""
        self._active = False
        if self._thread is not None:
            self._stopping = True
            self._wake.set()
            self._thread.join(timeout=5)
            self._thread = None
        if self._recorder is not None:
            self._recorder.close()
            self._recorder = None

    # --- the writer thread -----------------------------------------------------------
    def _run(self) -> None:
        scratch = np.zeros((round(0.25 * self.rate), 2), dtype=np.float32)
        while True:
            self._wake.wait()
            self._wake.clear()
            stopping = self._stopping
            if not self._drain(scratch) or stopping:
                return

    def _drain(self, scratch: npt.NDArray[np.float32]) -> bool:
        ring, rec = self._ring, self._recorder
        if rec is None:
            return False
        while ring.fill:
            n = ring.read_into(scratch, scratch.shape[0])
            try:
                rec.write(scratch[:n])
            except RecorderError as exc:
                # playback goes on; the error is reported once and kept for status
                self._active = False
                self.error = str(exc)
                log.error("%s", exc)
                return False
        return True
