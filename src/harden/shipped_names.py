"""The program and package names harden's own reading of an image uses (the report's size categories and
findings, verification's shell checks), read from their one home: the shipped stage data
(``stages/drop-shells.toml`` ``shells``, ``stages/remove-installers.toml`` ``packages`` and ``stdlib_modules``).

A policy may change what its stages remove; these are the names harden *recognises* in any image, with or
without a policy, so a review of an image that no policy touched still says which files are shells."""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from functools import cache
from typing import Any

from harden._resources import data_dir

MULTI_CALL_BINARIES = frozenset({"busybox", "toybox"})
"""Programs that carry a shell among their applets without being named after one (``busybox sh``)."""

SETUPTOOLS_MODULES = frozenset({"pkg_resources", "_distutils_hack"})
"""Top-level modules the setuptools distribution installs beside ``setuptools`` itself."""


@cache
def _shipped_settings(stage: str) -> Mapping[str, Any]:
    with (data_dir("stages") / f"{stage}.toml").open("rb") as handle:
        settings: Mapping[str, Any] = tomllib.load(handle)["settings"]
    return settings


@cache
def shell_names() -> frozenset[str]:
    """Program names that are shells (drop-shells' shipped ``shells``)."""
    return frozenset(str(name) for name in _shipped_settings("drop-shells")["shells"])


@cache
def installer_distributions() -> frozenset[str]:
    """Python distributions that install packages (remove-installers' shipped ``packages``), lower case."""
    return frozenset(str(name).lower() for name in _shipped_settings("remove-installers")["packages"])


@cache
def installer_modules() -> frozenset[str]:
    """Top-level module names of the installers: the distributions' own packages, setuptools' companions and
    the standard library's installer modules (remove-installers' shipped ``stdlib_modules``)."""
    stdlib = {str(name) for name in _shipped_settings("remove-installers")["stdlib_modules"]}
    return frozenset(installer_distributions() | SETUPTOOLS_MODULES | stdlib)
