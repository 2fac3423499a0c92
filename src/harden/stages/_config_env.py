"""Editing the config's ``Env`` list: the pipeline sets config keys whole, so stages emit the full list."""

from __future__ import annotations

from harden.image.model import ImageConfig


def env_with(config: ImageConfig, name: str, value: str) -> list[str]:
    """The config's Env list with ``name`` set to ``value`` (replaced in place, else appended)."""
    env: list[str] = []
    replaced = False
    for item in config.env:
        if item.partition("=")[0] == name:
            if not replaced:
                env.append(f"{name}={value}")
                replaced = True
            continue
        env.append(item)
    if not replaced:
        env.append(f"{name}={value}")
    return env
