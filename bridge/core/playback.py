"""Playback as data: the three states and the one transition table every part uses. No I/O.

Theory of operation
-------------------
The protocol has four playback controls (``Playback``: PLAY, PAUSE, STOP,
RESET_CONTEXT); a player of the stream (the Performance, the outbox's idea of the model,
an engine, a server session) is in one of three states (``PlayState``). ``TRANSITIONS``
says, for every (state, control) pair, the state that follows; ``after()`` reads it.
There is no other copy of these rules: performance, outbox, engines, servers and the
tests' fault server all call ``after()``.

The rules, as the Lyria protocol defines them (PAUSE holds, PLAY resumes, STOP resets
the context and keeps prompts and config, RESET_CONTEXT resets without stopping):

1. PLAY plays from any state.
2. PAUSE pauses only what plays: a stopped stream stays stopped (there is nothing to
   hold; a later PLAY starts from a fresh context either way).
3. STOP stops from any state; the context starts afresh.
4. RESET_CONTEXT never changes the state.

``resolve(action, state)`` turns a performer's word (``play``, ``pause``, ``toggle``,
``stop``, ``reset``, any case) into the control to send: ``toggle`` pauses what plays
and plays anything else.
"""

from __future__ import annotations

from enum import StrEnum

from bridge.core.types import PLAYBACK_ACTIONS, Playback


class PlayState(StrEnum):
    """Where a stream is. The values are the words the status API and state file use."""

    STOPPED = "stopped"
    PLAYING = "playing"
    PAUSED = "paused"


_S, _P, _H = PlayState.STOPPED, PlayState.PLAYING, PlayState.PAUSED

TRANSITIONS: dict[tuple[PlayState, Playback], PlayState] = {
    (_S, Playback.PLAY): _P,
    (_P, Playback.PLAY): _P,
    (_H, Playback.PLAY): _P,
    (_S, Playback.PAUSE): _S,
    (_P, Playback.PAUSE): _H,
    (_H, Playback.PAUSE): _H,
    (_S, Playback.STOP): _S,
    (_P, Playback.STOP): _S,
    (_H, Playback.STOP): _S,
    (_S, Playback.RESET_CONTEXT): _S,
    (_P, Playback.RESET_CONTEXT): _P,
    (_H, Playback.RESET_CONTEXT): _H,
}

# A performer's word → the control it sends ("toggle" depends on the state: see resolve).
_ACTIONS: dict[str, Playback] = {
    "play": Playback.PLAY,
    "pause": Playback.PAUSE,
    "stop": Playback.STOP,
    "reset": Playback.RESET_CONTEXT,
}
# The word that, sent again, keeps a stream where it is (what takeover compares with).
WORD_OF_STATE: dict[PlayState, str] = {_S: "stop", _P: "play", _H: "pause"}


def after(state: PlayState, control: Playback) -> PlayState:
    """The state that follows ``control`` in ``state`` (rules 1–4 of the module docstring)."""
    return TRANSITIONS[(state, control)]


def resolve(action: object, state: PlayState) -> Playback | None:
    """The control a playback word asks for in ``state``, or None for an unknown word."""
    word = str(action).strip().lower() if isinstance(action, str) else ""
    if word == "toggle":
        return Playback.PAUSE if state is PlayState.PLAYING else Playback.PLAY
    return _ACTIONS.get(word)


def parse_state(value: object) -> PlayState | None:
    """A saved or reported state word → PlayState (None if it is not one)."""
    try:
        return PlayState(value) if isinstance(value, str) else None
    except ValueError:
        return None


ALLOWED_ACTIONS = ", ".join(PLAYBACK_ACTIONS)
