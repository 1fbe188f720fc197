"""The fake Magenta system keeps exactly the real classes' signatures (magenta-rt 2.0.3).

With the package importable with its backend, the real signatures come from
``inspect``; with the package installed but no backend (CI installs the 1.4 MB wheel
with ``--no-deps``: JAX is 1.2 GB), they are read from its source with ``ast``, which
imports nothing. Without the package the test is skipped, saying so.
"""

from __future__ import annotations

import ast
import importlib
import importlib.util
import inspect
from pathlib import Path
from typing import Any

import pytest

from tests.fake_magenta import FakeMagentaRT2Jax, FakeMagentaRT2Mlx

METHODS = ("__init__", "embed_style", "tokenize_style", "generate")
# fake class, the package's module (relative to magenta_rt) and class holding the real one
PAIRS = [
    (FakeMagentaRT2Jax, "jax.system", "MagentaRT2System", "MagentaRT2Jax"),
    (FakeMagentaRT2Mlx, "mlx.system", "MagentaRT2System", "MagentaRT2Mlx"),
]
Params = list[tuple[str, str | None]]  # (name, default as source text or None)


def _package_dir() -> Path | None:
    spec = importlib.util.find_spec("magenta_rt")
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations)))


def _from_inspect(fn: Any) -> Params:
    out: Params = []
    for p in inspect.signature(fn).parameters.values():
        default = None if p.default is inspect.Parameter.empty else repr(p.default)
        out.append((p.name, default))
    return out


def _from_source(path: Path, cls: str, method: str) -> Params:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    node = next(n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == cls)
    fn = next(n for n in node.body if isinstance(n, ast.FunctionDef) and n.name == method)
    args = fn.args.args
    defaults: list[ast.expr | None] = [None] * (len(args) - len(fn.args.defaults))
    defaults += list(fn.args.defaults)
    return [
        (a.arg, None if d is None else ast.unparse(d)) for a, d in zip(args, defaults, strict=True)
    ]


def _real(module: str, cls: str, public: str, method: str) -> Params:
    try:
        real_cls = getattr(importlib.import_module("magenta_rt"), public)
    except ImportError:
        root = _package_dir()
        assert root is not None
        return _from_source(root / Path(*module.split(".")).with_suffix(".py"), cls, method)
    return _from_inspect(getattr(real_cls, method))


@pytest.mark.skipif(_package_dir() is None, reason="magenta-rt is not installed")
@pytest.mark.parametrize(("fake", "module", "cls", "public"), PAIRS)
@pytest.mark.parametrize("method", METHODS)
def test_fake_has_the_real_signature(
    fake: type, module: str, cls: str, public: str, method: str
) -> None:
    """Names, order and defaults of every parameter the engine relies on match 2.0.3."""
    assert _from_inspect(getattr(fake, method)) == _real(module, cls, public, method)


@pytest.mark.skipif(_package_dir() is None, reason="magenta-rt is not installed")
def test_installed_package_is_the_pinned_series() -> None:
    text = (_package_dir() / "__init__.py").read_text(encoding="utf-8")  # type: ignore[operator]
    assert '__version__ = "2.0.' in text
    assert "MagentaRT2Jax" in text and "MagentaRT2Mlx" in text
