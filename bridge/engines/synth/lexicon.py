"""The prompt lexicon: genres, instruments and moods mapped onto style parameters. No I/O.

A table in the spirit of mido's message specs: each entry names only the fields it has
an opinion on (see ``style.SCALARS`` and ``style.CATEGORIES`` for the fields, ranges and
categories). Phrases of up to three words are matched longest first, so "deep house"
beats "house". Words not in the table are hashed into a style (``style.hashed_partial``).
"""

from __future__ import annotations

Entry = dict[str, float | str | dict[str, float]]

STOPWORDS = frozenset(
    {
        "a",
        "an",
        "and",
        "the",
        "of",
        "with",
        "in",
        "on",
        "for",
        "to",
        "by",
        "at",
        "from",
        "some",
        "very",
        "music",
        "song",
        "track",
        "style",
        "vibe",
        "vibes",
        "feat",
        "featuring",
        "ft",
        "like",
        "beat",
        "beats",
        "sound",
        "sounds",
    }
)

_GENRES: dict[str, Entry] = {
    "house": dict(tempo=124, groove="four_floor", bassline="offbeat", swing=0.08, pads=0.6),
    "deep house": dict(
        tempo=122,
        groove="four_floor",
        bassline="offbeat",
        swing=0.12,
        progression="jazz",
        extensions=0.8,
        brightness=0.4,
        pad_tone=0.25,
        space=0.55,
        minor=0.7,
    ),
    "tech house": dict(tempo=126, groove="four_floor", bassline="funk", pads=0.3, lead=0.35),
    "techno": dict(
        tempo=130,
        groove="four_floor",
        bassline="pulse",
        progression="modal",
        minor=0.9,
        pads=0.35,
        drive=0.45,
        texture=0.45,
        acoustic=0.0,
    ),
    "minimal techno": dict(
        tempo=126, groove="four_floor", bassline="sub", progression="modal", pads=0.2, density=0.35
    ),
    "trance": dict(
        tempo=138,
        groove="four_floor",
        bassline="offbeat",
        progression="epic",
        pad_tone=0.9,
        lead_tone=0.8,
        brightness=0.7,
        space=0.7,
        minor=0.8,
    ),
    "disco": dict(
        tempo=118, groove="four_floor", bassline="octave", progression="pop", swing=0.05, minor=0.3
    ),
    "funk": dict(
        tempo=104,
        groove="boombap",
        bassline="funk",
        progression="dorian_vamp",
        swing=0.18,
        acoustic=0.8,
        extensions=0.7,
    ),
    "hip hop": dict(
        tempo=90, groove="boombap", bassline="sub", swing=0.3, acoustic=0.6, progression="minor_pop"
    ),
    "boom bap": dict(tempo=92, groove="boombap", swing=0.35, acoustic=0.8, bassline="walking"),
    "trap": dict(
        tempo=140, groove="halftime", bassline="sub", minor=0.95, bass_tone=0.1, drive=0.4
    ),
    "lo fi": dict(
        tempo=80,
        groove="boombap",
        swing=0.4,
        brightness=0.25,
        pad_tone=0.2,
        progression="jazz",
        extensions=0.9,
        texture=0.6,
    ),
    "lofi": dict(tempo=80, groove="boombap", swing=0.4, brightness=0.25, progression="jazz"),
    "drum and bass": dict(
        tempo=172, groove="dnb", bassline="sub", minor=0.8, space=0.5, density=0.65
    ),
    "dnb": dict(tempo=172, groove="dnb", bassline="sub", minor=0.8),
    "jungle": dict(tempo=165, groove="dnb", swing=0.1, acoustic=0.7, bassline="sub"),
    "dubstep": dict(
        tempo=140, groove="halftime", bassline="sub", drive=0.7, bass_tone=0.9, minor=0.9
    ),
    "breakbeat": dict(tempo=130, groove="breakbeat", acoustic=0.6, bassline="funk"),
    "garage": dict(tempo=132, groove="breakbeat", swing=0.3, bassline="offbeat", extensions=0.6),
    "ambient": dict(
        tempo=70,
        groove="sparse",
        bassline="sub",
        progression="modal",
        density=0.15,
        space=0.95,
        drums=0.25,
        pads=0.9,
        texture=0.7,
        brightness=0.35,
    ),
    "downtempo": dict(tempo=95, groove="boombap", space=0.7, density=0.35, brightness=0.4),
    "chillout": dict(tempo=96, groove="sparse", space=0.75, pads=0.8, density=0.3),
    "synthwave": dict(
        tempo=100,
        groove="rock",
        bassline="pulse",
        progression="epic",
        pad_tone=0.85,
        lead_tone=0.8,
        space=0.7,
        acoustic=0.1,
    ),
    "rock": dict(
        tempo=120,
        groove="rock",
        bassline="pulse",
        progression="pop",
        acoustic=0.9,
        drive=0.6,
        minor=0.4,
    ),
    "punk": dict(tempo=175, groove="rock", bassline="pulse", drive=0.8, density=0.8, acoustic=0.9),
    "metal": dict(tempo=150, groove="rock", bassline="pulse", drive=0.95, minor=1.0, density=0.85),
    "pop": dict(tempo=112, groove="four_floor", progression="pop", minor=0.2, brightness=0.6),
    "jazz": dict(
        tempo=110,
        groove="sparse",
        bassline="walking",
        progression="jazz",
        swing=0.5,
        extensions=1.0,
        acoustic=1.0,
        pad_tone=0.2,
    ),
    "bossa nova": dict(
        tempo=125, groove="latin", bassline="walking", progression="jazz", extensions=0.9
    ),
    "latin": dict(tempo=100, groove="latin", bassline="funk", acoustic=0.8, minor=0.4),
    "reggae": dict(tempo=76, groove="halftime", bassline="sub", swing=0.2, progression="minor_pop"),
    "dub": dict(tempo=72, groove="halftime", bassline="sub", space=1.0, density=0.3),
    "afrobeat": dict(tempo=110, groove="latin", bassline="funk", swing=0.15, acoustic=0.8),
    "blues": dict(tempo=90, groove="rock", bassline="walking", progression="blues", swing=0.45),
    "soul": dict(tempo=96, groove="boombap", progression="jazz", extensions=0.7, acoustic=0.8),
    "r&b": dict(tempo=88, groove="boombap", progression="jazz", extensions=0.8, swing=0.25),
    "rnb": dict(tempo=88, groove="boombap", progression="jazz", extensions=0.8, swing=0.25),
    "edm": dict(tempo=128, groove="four_floor", progression="epic", brightness=0.75, drive=0.5),
    "electro": dict(tempo=125, groove="breakbeat", bassline="octave", acoustic=0.0),
    "idm": dict(tempo=115, groove="breakbeat", swing=0.1, texture=0.6, lead_tone=0.3),
    "cinematic": dict(
        tempo=80, groove="sparse", progression="epic", pads=1.0, space=0.9, drums=0.4
    ),
    "orchestral": dict(tempo=90, groove="sparse", progression="epic", pads=1.0, acoustic=1.0),
    "classical": dict(tempo=85, groove="sparse", drums=0.1, pads=0.9, lead=0.8, acoustic=1.0),
    "chiptune": dict(tempo=150, groove="rock", lead_tone=1.0, bass_tone=0.9, brightness=0.85),
    "shoegaze": dict(tempo=105, groove="rock", space=1.0, pad_tone=0.9, drive=0.7),
    "industrial": dict(tempo=128, groove="four_floor", drive=1.0, texture=0.8, minor=1.0),
    "psytrance": dict(tempo=145, groove="four_floor", bassline="pulse", density=0.8, minor=1.0),
    "gospel": dict(tempo=80, groove="boombap", progression="pop", extensions=0.8, minor=0.1),
    "country": dict(tempo=110, groove="rock", bassline="walking", progression="pop", minor=0.1),
    "folk": dict(tempo=100, groove="sparse", acoustic=1.0, progression="pop", drums=0.4),
}

_INSTRUMENTS: dict[str, Entry] = {
    "rhodes": dict(pads=0.9, pad_tone=0.15, extensions=0.8, progression="jazz"),
    "piano": dict(pads=0.8, pad_tone=0.3, lead=0.6, lead_tone=0.2, acoustic=0.7),
    "organ": dict(pads=0.9, pad_tone=0.35, extensions=0.5),
    "strings": dict(pads=1.0, pad_tone=0.6, space=0.7),
    "synth pad": dict(pads=1.0, pad_tone=0.8, space=0.7),
    "pad": dict(pads=0.95, pad_tone=0.6),
    "pads": dict(pads=0.95, pad_tone=0.6),
    "bass": dict(bass=1.0),
    "808": dict(bass=1.0, bass_tone=0.05, bassline="sub", groove="halftime"),
    "acid": dict(bass=1.0, bass_tone=1.0, bassline="octave", brightness=0.7, drive=0.6),
    "303": dict(bass=1.0, bass_tone=1.0, bassline="octave", brightness=0.7),
    "sub bass": dict(bass=1.0, bass_tone=0.0, bassline="sub"),
    "slap bass": dict(bass=1.0, bass_tone=0.7, bassline="funk", acoustic=0.8),
    "guitar": dict(lead=0.7, lead_tone=0.55, acoustic=0.8, drive=0.4),
    "saxophone": dict(lead=0.8, lead_tone=0.6, swing=0.3, progression="jazz"),
    "sax": dict(lead=0.8, lead_tone=0.6, swing=0.3),
    "flute": dict(lead=0.8, lead_tone=0.05, register=0.9, brightness=0.6),
    "bells": dict(lead=0.8, lead_tone=0.0, register=1.0, space=0.7),
    "marimba": dict(lead=0.8, lead_tone=0.1, acoustic=0.9, groove="latin"),
    "arpeggio": dict(lead=0.9, density=0.7),
    "arp": dict(lead=0.9, density=0.7),
    "lead": dict(lead=0.9, lead_tone=0.8),
    "drums": dict(drums=1.0),
    "breakbeats": dict(drums=1.0, groove="breakbeat", acoustic=0.7),
    "percussion": dict(drums=0.9, groove="latin"),
    "congas": dict(drums=0.9, groove="latin", acoustic=1.0),
    "drum machine": dict(drums=1.0, acoustic=0.0),
    "vinyl": dict(texture=0.8, brightness=0.3),
    "tape": dict(texture=0.6, brightness=0.35, drive=0.4),
    "choir": dict(pads=1.0, pad_tone=0.3, space=0.9),
}

_MOODS: dict[str, Entry] = {
    "dark": dict(minor=1.0, brightness=0.15, progression="minor_pop"),
    "happy": dict(minor=0.0, brightness=0.75, progression="pop", tempo=124),
    "sad": dict(minor=1.0, brightness=0.3, tempo=80, progression="minor_pop"),
    "melancholic": dict(minor=0.9, brightness=0.35, extensions=0.6),
    "uplifting": dict(minor=0.1, progression="epic", brightness=0.75),
    "euphoric": dict(minor=0.3, progression="epic", brightness=0.85, space=0.7),
    "dreamy": dict(space=0.95, brightness=0.45, pads=0.9, extensions=0.7),
    "chill": dict(tempo=90, density=0.3, space=0.7, brightness=0.4),
    "relaxing": dict(tempo=75, density=0.2, space=0.8, drums=0.4),
    "energetic": dict(tempo=140, density=0.8, drive=0.6, brightness=0.7),
    "aggressive": dict(drive=0.95, minor=1.0, density=0.85, brightness=0.8),
    "groovy": dict(swing=0.25, bassline="funk", density=0.6),
    "funky": dict(swing=0.25, bassline="funk", groove="boombap", extensions=0.6),
    "minimal": dict(density=0.2, pads=0.2, lead=0.2),
    "epic": dict(progression="epic", pads=1.0, space=0.8),
    "warm": dict(brightness=0.3, pad_tone=0.2, bass_tone=0.2),
    "bright": dict(brightness=0.85),
    "crisp": dict(brightness=0.8, acoustic=0.2),
    "heavy": dict(drive=0.8, bass=1.0, drums=1.0),
    "atmospheric": dict(texture=0.8, space=0.95, pads=0.9),
    "spacey": dict(space=1.0, texture=0.6),
    "mysterious": dict(minor=1.0, progression="modal", space=0.8),
    "romantic": dict(minor=0.3, progression="jazz", extensions=0.9, tempo=85),
    "fast": dict(tempo=165, density=0.75),
    "slow": dict(tempo=70, density=0.3),
    "upbeat": dict(tempo=128, density=0.7, minor=0.2),
    "sparse": dict(density=0.1),
    "busy": dict(density=0.95),
    "swing": dict(swing=0.55),
    "swung": dict(swing=0.5),
    "retro": dict(acoustic=0.4, texture=0.5, brightness=0.45),
    "futuristic": dict(brightness=0.8, acoustic=0.0, texture=0.5),
}

LEXICON: dict[str, Entry] = {**_GENRES, **_INSTRUMENTS, **_MOODS}
# "r&b" tokenises to "r b"; keep it reachable.
LEXICON["r b"] = _GENRES["r&b"]
