"""What every Lyria session must be told: the latest wire state, replayed after each
(re)connect. Pure: no I/O.

The service does not acknowledge anything and forgets everything with the session, so
the client keeps the latest prompts, the whole config and the playback state
(``bridge.core.playback``'s one transition table) and replays them to every new session:
prompts, config, PLAY if playing (the order of a typical start). Prompts the service
filtered are left out of every prompt set until their text changes (it would filter them
again); a set with no prompt left is not sent (the API needs at least one).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from bridge.core.playback import PlayState, after
from bridge.core.types import Control, Playback, SetConfig, SetPrompts, Update, WeightedPrompt
from bridge.errors import LocalProtocolError
from bridge.protocol import codec


@dataclass
class WireState:
    """The latest state, as frames: ``remember`` an update, ``replay`` to a new session."""

    prompts: tuple[WeightedPrompt, ...] = ()
    config: SetConfig | None = None
    play: PlayState = PlayState.STOPPED
    filtered: dict[str, str] = field(default_factory=dict)  # text → the server's reason
    # the prompts frame, encoded once per change (asked for on every event)
    _prompts_frame: str | None = field(default=None, init=False, repr=False)

    @property
    def playing(self) -> bool:
        return self.play is PlayState.PLAYING

    @property
    def audio_due(self) -> bool:
        """Playing with at least one prompt on the wire: the server should be streaming."""
        return self.playing and self.prompts_frame() is not None

    def remember(self, update: Update) -> tuple[str, str | None]:
        """Record ``update``; returns its kind and the frame to send now (None: nothing)."""
        if isinstance(update, SetPrompts):
            self.prompts = update.prompts
            self._encode_prompts()
            return "prompts", self._prompts_frame
        if isinstance(update, SetConfig):
            self.config = update
            return "config", codec.encode_update(update)
        if isinstance(update, Control):
            self.play = after(self.play, Playback(update.action))
            return "control", codec.encode_update(update)
        raise LocalProtocolError(f"not an Update: {type(update).__name__}")

    def filter(self, text: str, reason: str) -> bool:
        """The server filtered ``text``: leave it out from now on. True if it is news."""
        news = text not in self.filtered
        self.filtered[text] = reason
        self._encode_prompts()
        return news

    def prompts_frame(self) -> str | None:
        """The prompts minus the filtered ones and zero weights; None if none is left."""
        return self._prompts_frame

    def _encode_prompts(self) -> None:
        wire = tuple(p for p in self.prompts if p.text not in self.filtered and p.weight)
        self._prompts_frame = codec.encode_update(SetPrompts(wire)) if wire else None

    def replay(self) -> list[tuple[str, str]]:
        """(kind, frame) for a fresh session: prompts, config, PLAY if playing."""
        frames = []
        prompts = self.prompts_frame()
        if prompts is not None:
            frames.append(("prompts", prompts))
        if self.config is not None:
            frames.append(("config", codec.encode_update(self.config)))
        if self.playing:
            frames.append(("control", codec.encode_update(Control(Playback.PLAY))))
        return frames
