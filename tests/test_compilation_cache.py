"""The persistent compilation cache: where it lives, how it is switched off, and that compiled
programs land in it (in a fresh process: JAX reads the setting at its first compilation)."""

import subprocess
import sys
from pathlib import Path

from symbnn.sampling.compilation_cache import default_cache_dir


def test_default_cache_dir(monkeypatch, tmp_path):
    monkeypatch.setenv("SYMBNN_CACHE_DIR", str(tmp_path / "c"))
    assert default_cache_dir() == tmp_path / "c"
    for off in ("off", "OFF", "0", ""):
        monkeypatch.setenv("SYMBNN_CACHE_DIR", off)
        assert default_cache_dir() is None
    monkeypatch.delenv("SYMBNN_CACHE_DIR")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert default_cache_dir() == tmp_path / "xdg" / "symbnn" / "xla"


def test_compiled_programs_are_written(tmp_path):
    code = (
        "import jax, jax.numpy as jnp\n"
        "from symbnn import enable_compilation_cache\n"
        f"assert enable_compilation_cache({str(tmp_path)!r}, min_compile_seconds=0)\n"
        "jax.jit(lambda x: jnp.sin(x) * 2)(jnp.ones(3)).block_until_ready()\n"
    )
    env = {"JAX_PLATFORMS": "cpu", "PATH": "", "HOME": str(tmp_path)}
    subprocess.run([sys.executable, "-c", code], check=True, env=env, timeout=300)
    assert any(p.is_file() for p in Path(tmp_path).rglob("*"))
