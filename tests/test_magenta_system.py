"""Loading Magenta RT: backend choice, MAGENTA_HOME, weights and install hints (no model)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

from bridge.engines.magenta import create
from bridge.engines.magenta.system import (
    MagentaUnavailable,
    ModelOptions,
    checkpoint_path,
    choose_backend,
    load_system,
    magenta_home,
    missing_weights,
    system_class,
)
from tests.fake_magenta import FakeMagentaRT2Mlx


def test_backend_auto_is_mlx_only_on_apple_silicon() -> None:
    assert choose_backend("auto", "Darwin", "arm64") == "mlx"
    assert choose_backend("auto", "Darwin", "x86_64") == "jax"
    assert choose_backend("auto", "Linux", "aarch64") == "jax"
    assert choose_backend("jax", "Darwin", "arm64") == "jax"


def test_options_name_what_is_allowed() -> None:
    with pytest.raises(ValueError, match="mrt2_small, mrt2_base"):
        ModelOptions(size="mrt2_large")
    with pytest.raises(ValueError, match="auto, mlx, jax"):
        ModelOptions(backend="cuda")


def test_magenta_home_is_honoured(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("MAGENTA_HOME", str(tmp_path))
    assert magenta_home() == tmp_path / "magenta-rt-v2"
    assert magenta_home(str(tmp_path / "other")) == tmp_path / "other" / "magenta-rt-v2"
    ckpt = checkpoint_path(ModelOptions(size="mrt2_base"))
    assert ckpt == tmp_path / "magenta-rt-v2" / "checkpoints" / "mrt2_base.safetensors"


def test_checkpoint_may_be_a_path(tmp_path) -> None:
    file = tmp_path / "mine.safetensors"
    file.write_bytes(b"")
    assert checkpoint_path(ModelOptions(checkpoint=str(file))) == file


def test_missing_weights_say_how_to_fetch_them(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("MAGENTA_HOME", str(tmp_path))
    why = missing_weights(ModelOptions())
    assert why is not None and "mrt models init" in why
    (tmp_path / "magenta-rt-v2" / "resources").mkdir(parents=True)
    why = missing_weights(ModelOptions())
    assert why is not None and "mrt checkpoints download mrt2_small" in why
    with pytest.raises(MagentaUnavailable, match="checkpoint not found"):
        load_system(ModelOptions(), FakeMagentaRT2Mlx)


def test_load_builds_the_class_with_size_and_checkpoint(tmp_path, monkeypatch) -> None:
    home = tmp_path / "elsewhere"
    (home / "magenta-rt-v2" / "resources").mkdir(parents=True)
    (home / "magenta-rt-v2" / "checkpoints").mkdir()
    (home / "magenta-rt-v2" / "checkpoints" / "mrt2_small.safetensors").write_bytes(b"")
    monkeypatch.setenv("MAGENTA_HOME", str(tmp_path))  # restored after the test
    system = load_system(ModelOptions(home=str(home)), FakeMagentaRT2Mlx)
    assert system.size == "mrt2_small"
    assert (
        Path(system.checkpoint) == home / "magenta-rt-v2" / "checkpoints" / "mrt2_small.safetensors"
    )


def test_without_the_package_one_line_says_how_to_install(monkeypatch) -> None:
    monkeypatch.setitem(sys.modules, "magenta_rt", None)  # import now fails, installed or not
    with pytest.raises(MagentaUnavailable) as info:
        system_class("jax")
    text = str(info.value)
    assert "promptbridge[magenta]" in text and "mrt checkpoints download" in text
    assert "\n" not in text


def test_without_the_backend_one_line_names_it(monkeypatch) -> None:
    """The package present, its JAX/MLX backend not: the package's own hint, one line."""
    if importlib.util.find_spec("jax") is not None:
        pytest.skip("jax is installed here")
    if importlib.util.find_spec("magenta_rt") is None:
        pytest.skip("magenta-rt is not installed (CI installs it without dependencies)")
    with pytest.raises(MagentaUnavailable, match=r"jax backend: .*magenta-rt\[jax\]"):
        system_class("jax")
    assert "jax" not in sys.modules


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.mark.anyio
async def test_start_fails_with_one_line_when_the_weights_are_missing(tmp_path, monkeypatch):
    monkeypatch.setenv("MAGENTA_HOME", str(tmp_path))
    eng = create(model_class=FakeMagentaRT2Mlx)
    with pytest.raises(MagentaUnavailable, match="mrt models init"):
        await eng.start()
    await eng.close()
