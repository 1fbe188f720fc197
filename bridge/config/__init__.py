"""Mapping files: TOML profiles and performances → a checked, compiled ``MappingSet``.

Public API (file I/O happens only in ``loader``):

* ``load_mapping(paths) -> MappingSet``: load and merge files (following ``use``);
  raises ``ConfigError`` carrying every ``Problem``.
* ``loads(text, file="<text>", base=None) -> MappingSet``: the same from TOML text.
* ``default_mapping() -> MappingSet``: the shipped ``generic.toml``.
* ``check_files(paths) -> list[Problem]``: check each file; empty when all are valid.
* ``mappings_dir() -> Path`` and ``shipped() -> list[str]``: the shipped profiles.
* ``resolve(ref, base) -> Path | str``: a profile name or path → a path (or an error).

Modules: ``lines`` (key path → line), ``reader`` (typed getters collecting problems),
``schema`` (one file's keys and ranges), ``targets`` (what each target accepts),
``build`` (merge files and compile bindings), ``loader`` (files and ``use``).
"""

from bridge.config.loader import (
    check_files,
    default_mapping,
    load_mapping,
    loads,
    mappings_dir,
    resolve,
    shipped,
)

__all__ = [
    "check_files",
    "default_mapping",
    "load_mapping",
    "loads",
    "mappings_dir",
    "resolve",
    "shipped",
]
