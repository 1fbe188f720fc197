"""Reading mapping files: TOML text → checked data → ``MappingSet``. Reads files.

``load_mapping(paths)`` reads each file (``reader.parse_toml``), follows ``use = "..."``
references depth-first (a profile comes before the file that uses it; each file is
loaded once; cycles are reported), checks everything and raises ``ConfigError`` with
every problem at once. A bare name (``"nanokontrol2"``) is a shipped profile from
``bridge/data/mappings``; anything else is a path, relative to the file that uses it.
"""

from __future__ import annotations

from collections.abc import Sequence
from importlib import resources
from pathlib import Path

from bridge.config.build import build
from bridge.config.lines import key_lines
from bridge.config.reader import Reader, parse_toml, suggest
from bridge.config.schema import FileData, parse_data
from bridge.core.mapping import MappingSet
from bridge.errors import ConfigError, Problem


def mappings_dir() -> Path:
    """The shipped profiles (inside the package, so ``pip install .`` carries them)."""
    return Path(str(resources.files("bridge.data").joinpath("mappings")))


def shipped() -> list[str]:
    """Names of the shipped profiles (``generic``, ``nanokontrol2``, ...)."""
    return sorted(p.stem for p in mappings_dir().glob("*.toml"))


def resolve(ref: str, base: Path | None = None) -> Path | str:
    """A ``use`` reference or command-line name → a path, or an error message."""
    is_name = "/" not in ref and "\\" not in ref and not ref.endswith(".toml")
    if is_name:
        path = mappings_dir() / f"{ref.lower()}.toml"
        if path.is_file():
            return path
        local = (base or Path.cwd()) / ref
        if local.is_file():
            return local
        return f"unknown profile{suggest(ref.lower(), shipped())}"
    path = Path(ref).expanduser()
    if not path.is_absolute() and base is not None:
        path = base / path
    return path


_PROFILES = "a shipped profile name or a .toml path"


class _Loader:
    def __init__(self) -> None:
        self.files: list[FileData] = []
        self.paths: list[Path] = []
        self.problems: list[Problem] = []
        self._done: set[Path] = set()
        self._stack: list[Path] = []

    def load_text(self, text: str, shown: str, base: Path) -> None:
        fd = self.parse(text, shown)
        if fd is not None:
            self._follow(fd, shown, base)
            self.files.append(fd)

    def _follow(self, fd: FileData, shown: str, base: Path) -> None:
        for ref, key in fd.uses:
            target = resolve(ref, base)
            if isinstance(target, str):
                fd.reader.problem(key, target, ref, _PROFILES)
                continue
            self.load(target, str(target), (shown, fd.reader.line(key)))

    def load(self, path: Path, shown: str, via: tuple[str, int | None] | None = None) -> None:
        real = path.resolve()
        if real in self._done:
            return
        if real in self._stack:
            chain = " → ".join(p.name for p in [*self._stack, real])
            file, line = via or (shown, None)
            self.problems.append(Problem(file, line, "use", f"circular use: {chain}"))
            return
        try:
            text = real.read_text(encoding="utf-8")
        except OSError as exc:
            file, line = via or (shown, None)
            message = f"cannot read {shown}: {exc.strerror or exc}"
            self.problems.append(Problem(file, line, "use" if via else "", message))
            return
        except UnicodeDecodeError as exc:  # e.g. a file overwritten with binary junk
            file, line = via or (shown, None)
            message = f"{shown} is not UTF-8 text (byte {exc.start}: {exc.reason})"
            self.problems.append(Problem(file, line, "use" if via else "", message))
            return
        self._stack.append(real)
        fd = self.parse(text, shown)
        if fd is not None:
            self._follow(fd, shown, real.parent)
            self.files.append(fd)
        self._stack.pop()
        self._done.add(real)
        self.paths.append(real)

    def parse(self, text: str, shown: str) -> FileData | None:
        data = parse_toml(text, shown)
        if isinstance(data, Problem):
            self.problems.append(data)
            return None
        return parse_data(data, Reader(shown, key_lines(text)))


def _collect(paths: Sequence[Path | str]) -> tuple[MappingSet, list[Problem]]:
    loader = _Loader()
    for p in paths:
        target = resolve(str(p)) if isinstance(p, str) else p
        if isinstance(target, str):
            message = f"{target} (allowed {_PROFILES})"
            loader.problems.append(Problem(str(p), None, "", message))
            continue
        loader.load(target, str(p))
    return _finish(loader)


def _finish(loader: _Loader) -> tuple[MappingSet, list[Problem]]:
    mapping, problems = build(loader.files, tuple(loader.paths))
    order = {fd.file: i for i, fd in enumerate(loader.files)}
    problems.sort(key=lambda p: (order.get(p.file, -1), p.line or 0))
    return mapping, loader.problems + problems


def loads(text: str, file: str = "<text>", base: Path | None = None) -> MappingSet:
    """Load a mapping from TOML text (its ``use`` paths are relative to ``base``)."""
    loader = _Loader()
    loader.load_text(text, file, base or Path.cwd())
    mapping, problems = _finish(loader)
    if problems:
        raise ConfigError(problems)
    return mapping


def load_mapping(paths: Sequence[Path | str]) -> MappingSet:
    """Load profiles/performances into one MappingSet; ConfigError lists every problem."""
    mapping, problems = _collect(paths)
    if problems:
        raise ConfigError(problems)
    return mapping


def check_files(paths: Sequence[Path | str]) -> list[Problem]:
    """Every problem in each file (each checked on its own, with what it uses)."""
    problems: list[Problem] = []
    for p in paths:
        for problem in _collect([p])[1]:
            if problem not in problems:
                problems.append(problem)
    return problems


def default_mapping() -> MappingSet:
    """The generic profile, used when no mapping is given."""
    return load_mapping([mappings_dir() / "generic.toml"])
