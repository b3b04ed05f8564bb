"""A persistent cache of compiled XLA programs, so that a second run with the same shapes
(the same network, data size, chain chunk and kernel settings) skips compilation.

Compiling a many-chain sampler takes tens of seconds on a CPU, often more than sampling
itself; JAX can keep the compiled programs on disk. The `symbnn` command enables it by
default (folder `$SYMBNN_CACHE_DIR`, else `~/.cache/symbnn/xla`; `SYMBNN_CACHE_DIR=off`
disables it); library users opt in with `enable_compilation_cache()`. Programs are keyed by
JAX on their HLO, the jaxlib version and the device, so a stale entry is never reused.
"""

from __future__ import annotations

import os
from pathlib import Path

#: Programs that compile faster than this are not worth a disk entry.
MIN_COMPILE_SECONDS = 1.0


def default_cache_dir() -> Path | None:
    """`$SYMBNN_CACHE_DIR` (None when set to `off`), else `~/.cache/symbnn/xla`."""
    env = os.environ.get("SYMBNN_CACHE_DIR")
    if env is not None:
        return None if env.strip().lower() in ("", "off", "0", "none") else Path(env)
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "symbnn" / "xla"


def enable_compilation_cache(
    path: str | os.PathLike | None = None, *, min_compile_seconds: float = MIN_COMPILE_SECONDS
) -> Path | None:
    """Keep compiled programs in `path` (default `default_cache_dir()`) from now on in this
    process; returns the folder, or None when disabled. Call it before the first compilation:
    JAX reads the setting when it first compiles."""
    import jax

    folder = Path(path) if path is not None else default_cache_dir()
    if folder is None:
        return None
    folder.mkdir(parents=True, exist_ok=True)
    jax.config.update("jax_compilation_cache_dir", str(folder))
    jax.config.update("jax_persistent_cache_min_compile_time_secs", float(min_compile_seconds))
    return folder


__all__ = ["default_cache_dir", "enable_compilation_cache"]
