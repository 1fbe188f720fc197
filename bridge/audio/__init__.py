"""Audio out: the jitter buffer, the ring, the player (sounddevice) and the WAV recorder."""
