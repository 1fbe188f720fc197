"""Our generation controls → Magenta RT 2's ``generate`` arguments. Pure, no I/O.

What maps (docs/magenta-rt.md, "Lyria control ↔ Magenta RT 2"):

=================  ==================================================================
temperature        ``temperature`` (a runtime constant: no recompilation)
top_k              ``top_k``
guidance           ``cfg_scales["musiccoca"]``, the same number (Lyria's 0..6 lies
                   inside the model's −1..7 clamp)
mute_drums         the drum conditioning held at 0 ("no drum") every frame, the
                   model's own "drumless" mode
=================  ==================================================================

Everything else has no counterpart in the model: ``UNSUPPORTED``. Those fields are
reported in the status and logged once, the first time a config sets one away from its
default (``newly_unsupported``).

A Lyria client (a Pi bridge talking to ``serve``) follows every bpm or scale change with
RESET_CONTEXT, as the Lyria model needs. This model has neither, so that reset would
only be an audible seam: ``lyria_reset_follows`` recognises the config change that
brings one, and the engine skips the RESET_CONTEXT that comes right after it.
"""

from __future__ import annotations

from dataclasses import dataclass

from bridge.core.types import GenerationConfig

# The generation controls (CONFIG_SPECS names) the model acts on, and those it lacks.
SUPPORTED: tuple[str, ...] = ("temperature", "top_k", "guidance", "mute_drums")
UNSUPPORTED: tuple[str, ...] = (
    "seed",
    "bpm",
    "density",
    "brightness",
    "scale",
    "mute_bass",
    "only_bass_and_drums",
    "mode",
)
CFG_RANGE = (-1.0, 7.0)  # the model clamps every CFG scale to this
# The model's defaults for notes and drums guidance (config.py / system.py).
NOTES_CFG = 1.0
DRUMS_CFG = 1.0
# Temperature 0 would divide the logits by zero inside the sampler: keep a floor.
MIN_TEMPERATURE = 0.01


@dataclass(frozen=True, slots=True)
class Sampling:
    """The per-call arguments of ``generate`` that come from the config."""

    temperature: float
    top_k: int
    cfg_scales: tuple[tuple[str, float], ...]
    mute_drums: bool

    def cfg_dict(self) -> dict[str, float]:
        return dict(self.cfg_scales)


def sampling(config: GenerationConfig) -> Sampling:
    """The model's sampling arguments for ``config``."""
    lo, hi = CFG_RANGE
    return Sampling(
        temperature=max(MIN_TEMPERATURE, float(config.temperature)),
        top_k=max(1, int(config.top_k)),
        cfg_scales=(
            ("musiccoca", min(hi, max(lo, float(config.guidance)))),
            ("notes", NOTES_CFG),
            ("drums", DRUMS_CFG),
        ),
        mute_drums=bool(config.mute_drums),
    )


_DEFAULTS = GenerationConfig()


LYRIA_RESET_FIELDS = ("bpm", "scale")  # what a Lyria client resets the context for


def lyria_reset_follows(old: GenerationConfig, new: GenerationConfig) -> bool:
    """True when ``new`` differs from ``old`` only in bpm/scale (and does differ): a Lyria
    client's RESET_CONTEXT for them follows, which this model does not need."""
    changed = {f for f in _FIELDS if getattr(old, f) != getattr(new, f)}
    return bool(changed) and changed <= set(LYRIA_RESET_FIELDS)


_FIELDS = tuple(GenerationConfig.__dataclass_fields__)


def unsupported_in_use(config: GenerationConfig) -> tuple[str, ...]:
    """The unsupported fields ``config`` sets away from their default (auto/off)."""
    return tuple(n for n in UNSUPPORTED if getattr(config, n) != getattr(_DEFAULTS, n))


def newly_unsupported(config: GenerationConfig, warned: set[str]) -> tuple[str, ...]:
    """Unsupported fields in use that were not reported yet; adds them to ``warned``."""
    new = tuple(n for n in unsupported_in_use(config) if n not in warned)
    warned.update(new)
    return new
