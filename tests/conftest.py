"""Tests run on CPU in float64 (as NumPyro's do), with every random source seeded."""

import os

os.environ.setdefault("JAX_PLATFORMS", "cpu")
# CLI tests must not write compiled programs into the user's cache.
os.environ.setdefault("SYMBNN_CACHE_DIR", "off")

import jax  # noqa: E402

jax.config.update("jax_enable_x64", True)
