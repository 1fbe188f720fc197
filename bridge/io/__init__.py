"""Adapters to the outside world (MIDI, systemd, files): each the only importer of its library."""
