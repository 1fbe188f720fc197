"""PromptBridge: play a live AI music model with MIDI controllers.

The package is split into a pure core (``bridge.core``, ``bridge.protocol``,
``bridge.audio.jitter``: no I/O, time passed in) and thin adapters that are the only
importers of rtmidi (``bridge.io.midi``), mido (``bridge.io.midifile``), websockets
(``bridge.engines.lyria``, ``bridge.server``) and sounddevice (``bridge.audio.devices``).
"""

__version__ = "0.1.0"
