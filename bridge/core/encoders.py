"""Relative encoders: decode a 7-bit value into a signed step, by the encoding's rule.

Pure, no I/O. The encodings are named by their rule, since vendor names collide:

=================  ===============================================  =====  =====
rule               decode                                            +1     -1
=================  ===============================================  =====  =====
twos-complement    ``v if v < 64 else v - 128``                      1      127
binary-offset      ``v - 64``                                        65     63
sign-bit           ``-(v & 63) if v & 64 else v``                    1      65
sign-bit-inverted  ``(v & 63) if v & 64 else -v``                    65     1
inc-dec            a separate CC/note for up and for down            -      -
=================  ===============================================  =====  =====

``accelerate`` turns a decoded step into a distance, so a fast turn covers more ground.
"""

from __future__ import annotations

from collections.abc import Callable


def _twos(v: int) -> int:
    return v if v < 64 else v - 128


def _offset(v: int) -> int:
    return v - 64


def _sign_bit(v: int) -> int:
    return -(v & 0x3F) if v & 0x40 else v


def _sign_bit_inverted(v: int) -> int:
    return (v & 0x3F) if v & 0x40 else -v


DECODERS: dict[str, Callable[[int], int]] = {
    "twos-complement": _twos,
    "binary-offset": _offset,
    "sign-bit": _sign_bit,
    "sign-bit-inverted": _sign_bit_inverted,
}

# Ticks closer together than this count as a fast turn.
FAST_TICK = 0.04


def decode(encoding: str, value: int) -> int:
    """The signed step a 7-bit ``value`` means under ``encoding``."""
    return DECODERS[encoding](value)


def accelerate(delta: int, acceleration: float, interval: float | None) -> float:
    """Ticks → distance in steps.

    A message carrying ``|delta|`` ticks (encoders send more ticks per message the faster
    they turn) moves ``|delta| × (1 + acceleration × (|delta| − 1))`` steps; a tick that
    comes within ``FAST_TICK`` seconds of the previous one counts as one more tick of
    speed. ``acceleration = 0`` keeps it linear.
    """
    speed = abs(delta)
    if interval is not None and interval < FAST_TICK:
        speed += 1
    factor = 1.0 + acceleration * (speed - 1)
    return delta * factor
