"""Soft takeover: what a knob does when its position and the target disagree. Pure.

Values here are in target units (the output of the binding's transform), so curves and
inversion need no special care. ``THRESHOLD`` is 3/128 of the output range (Mixxx).

* ``immediate``: every value goes through (the target jumps).
* ``pickup``: values are ignored until the control reaches the target (within the
  threshold) or crosses it between two messages; then it follows 1:1.
* ``scale``: the target converges smoothly (ReaLearn's rule): each move changes it by
  Δcontrol × dist(target → bound in direction of travel) / dist(previous control → bound),
  so both arrive at the bound together; once they meet, it follows 1:1.

A binding is *armed* (not following) at start, after ``rearm`` (scene recall, bank
switch, restart), and whenever the target was moved by something else (another control,
a scene glide, the status API): the mapper notices because the target no longer holds
the last value this binding sent.
"""

from __future__ import annotations

from dataclasses import dataclass

THRESHOLD = 3.0 / 128.0


@dataclass(slots=True)
class TakeoverState:
    """Per binding: following or not, the previous control value, the last value sent."""

    picked: bool = False
    prev: float | None = None
    sent: float | None = None

    def rearm(self) -> None:
        self.picked = False
        self.prev = None
        self.sent = None


def resolve(
    rule: str, st: TakeoverState, control: float, target: float | None, lo: float, hi: float
) -> float | None:
    """The value to send for a control at ``control`` (target units), or None to hold."""
    if rule == "immediate" or target is None:
        st.picked = True
        st.prev = control
        return control
    threshold = THRESHOLD * abs(hi - lo)
    if st.picked and st.sent is not None and abs(target - st.sent) > threshold:
        st.picked = False  # moved by something else since we last sent
    prev, st.prev = st.prev, control
    if st.picked:
        return control
    crossed = prev is not None and (prev - target) * (control - target) <= 0.0
    if crossed or abs(control - target) <= threshold:
        st.picked = True
        return control
    if rule == "pickup" or prev is None or control == prev:
        return None
    return _scaled(control, prev, target, min(lo, hi), max(lo, hi))


def _scaled(control: float, prev: float, target: float, lo: float, hi: float) -> float:
    """ReaLearn's catch-up step toward the bound in the direction of travel."""
    bound = hi if control > prev else lo
    distance = bound - prev
    if distance == 0.0:
        return bound
    step = target + (control - prev) * (bound - target) / distance
    return min(hi, max(lo, step))  # float rounding must not step past the bound
