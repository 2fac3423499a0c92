"""Python environment discovery inside a Rootfs: which interpreters, stdlibs, site-packages and
distributions an image holds, found from the files themselves (nothing assumes a particular base image).

Sources of evidence, in order of strength:

* a stdlib (``<prefix>/lib/pythonX.Y/os.py`` or ``<prefix>/lib/pythonXY.zip``) makes ``<prefix>`` a base
  install;
* a ``pyvenv.cfg`` makes its directory a virtual environment (its ``home`` points at the base interpreter);
* a ``lib/pythonX.Y/site-packages`` or ``dist-packages`` directory that neither of the above claims becomes an
  environment of its own (``pip install --prefix``, a copied venv without ``pyvenv.cfg``);
* the config's ``PATH`` and ``Entrypoint``/``Cmd`` name interpreters; environments they reach are listed
  first, in ``PATH`` order, so ``envs[0]`` is the one ``python3`` runs in the container.
"""

from __future__ import annotations

import csv
import io
import logging
import posixpath
import re
from collections.abc import Iterable
from dataclasses import dataclass
from email.parser import HeaderParser
from pathlib import PurePosixPath

from harden.image.blobs import BlobStore
from harden.image.files import file_text
from harden.image.model import EntryType, ImageConfig, Rootfs
from harden.image.path_text import add_parents

METADATA_SUFFIXES = (".dist-info", ".egg-info")
"""How a distribution's metadata folder (or single PKG-INFO file, ``*.egg-info``) is named in site-packages."""

log = logging.getLogger(__name__)

ROOT = PurePosixPath(".")
DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
"""What container runtimes use when the image config sets no PATH."""
_STDLIB = re.compile(r"^(?:(?P<prefix>.+)/)?(?P<lib>lib(?:64)?)/python(?P<ver>\d+\.\d+)t?/os\.pyc?$")
_STDLIB_ZIP = re.compile(r"^(?:(?P<prefix>.+)/)?(?P<lib>lib(?:64)?)/python(?P<major>\d)(?P<minor>\d+)t?\.zip$")
_SITE_DIR = re.compile(
    r"^(?:(?P<prefix>.*?)/)??(?P<lib>lib(?:64)?)/python(?P<ver>\d+(?:\.\d+)?)t?/(?:site|dist)-packages(?=/|$)"
)
_INTERPRETER_NAME = re.compile(r"^python(?P<ver>\d+(?:\.\d+)?)?t?$")
_REQUIREMENT_NAME = re.compile(r"\s*([A-Za-z0-9](?:[A-Za-z0-9._-]*[A-Za-z0-9])?)")
_EXTRA_MARKER = re.compile(r"\bextra\s*==")


@dataclass(frozen=True, slots=True)
class PythonEnv:
    """One Python environment. All paths are root-relative; ``interpreter`` is the path as found (it may be a
    symlink) or None when only a stdlib or site-packages was found."""

    interpreter: PurePosixPath | None
    version: str
    prefix: PurePosixPath
    stdlib_dir: PurePosixPath | None
    site_packages: tuple[PurePosixPath, ...]
    is_venv: bool
    system_site_packages: bool = False

    @property
    def bin_dir(self) -> PurePosixPath:
        return self.prefix / "bin"

    def contains(self, path: PurePosixPath) -> bool:
        """Whether ``path`` lies inside this environment's prefix."""
        if self.prefix == ROOT:
            return True
        prefix, text = str(self.prefix), str(path)  # text, not ``parts``: that tuple stays cached on the path
        return text == prefix or text.startswith(prefix + "/")


@dataclass(frozen=True, slots=True)
class Distribution:
    """An installed distribution, read from its ``*.dist-info`` (or ``*.egg-info``) metadata."""

    name: str
    version: str
    site_packages: PurePosixPath
    metadata_dir: PurePosixPath
    top_level: tuple[str, ...]
    files: tuple[PurePosixPath, ...]
    """RECORD (or ``installed-files.txt``) entries, root-relative, only those inside the environment."""
    rejected_files: tuple[str, ...]
    """RECORD entries that would leave the environment, as written (never acted on)."""
    requires: tuple[str, ...]
    """Normalized names of run-time requirements (``Requires-Dist`` without ``extra ==`` markers)."""
    console_scripts: tuple[str, ...]
    has_record: bool

    @property
    def key(self) -> str:
        return normalize_name(self.name)


def normalize_name(name: str) -> str:
    """PEP 503 normalization: ``Foo.Bar_baz`` → ``foo-bar-baz``."""
    return re.sub(r"[-_.]+", "-", name).lower()


def _text(rootfs: Rootfs, blobs: BlobStore, path: PurePosixPath) -> str | None:
    return file_text(rootfs, blobs, path)


def _is_executable(rootfs: Rootfs, path: PurePosixPath) -> bool:
    resolved = rootfs.resolve(path)
    entry = rootfs.get(resolved) if resolved is not None else None
    return entry is not None and entry.has_content


def _exists_dir(rootfs: Rootfs, dirs: set[str], path: PurePosixPath) -> PurePosixPath | None:
    """``path`` (or where its symlinks lead) when it is a directory of the rootfs (``dirs``: by path text)."""
    if str(path) in dirs:
        return path
    resolved = rootfs.resolve(path)
    if resolved is not None and str(resolved) in dirs:
        return resolved
    return None


def _find_interpreter(rootfs: Rootfs, bin_dir: PurePosixPath, version: str) -> PurePosixPath | None:
    for name in (f"python{version}", f"python{version.split('.')[0]}", "python"):
        if _is_executable(rootfs, bin_dir / name):
            return bin_dir / name
    return None


def _parse_pyvenv_cfg(text: str) -> dict[str, str]:
    values: dict[str, str] = {}
    for line in text.splitlines():
        key, sep, value = line.partition("=")
        if sep:
            values[key.strip().lower()] = value.strip()
    return values


def _major_minor(text: str) -> str | None:
    match = re.match(r"\s*(\d+)\.(\d+)", text)
    return f"{match.group(1)}.{match.group(2)}" if match else None


def _root_relative(path: str) -> PurePosixPath:
    normalized = posixpath.normpath("/" + path.strip())
    return PurePosixPath(normalized.lstrip("/") or ".")


class _Scan:
    """One pass over the rootfs paths, collecting what discovery needs. It reads each path's text (a parent is a
    slice of it): making a PurePosixPath per parent is what this pass spent its time on."""

    def __init__(self, rootfs: Rootfs) -> None:
        self.dirs: set[str] = set()
        """Directories by path text: those with an entry, and those implied by an entry below them."""
        self.stdlibs: dict[PurePosixPath, tuple[PurePosixPath, str]] = {}
        self.site_dirs: dict[PurePosixPath, str] = {}
        self.venv_cfgs: list[PurePosixPath] = []
        dirs = self.dirs
        site_texts: dict[str, str] = {}  # one PurePosixPath per site directory, not one per path below it
        for path, entry in rootfs.entries.items():
            text = str(path)
            if entry.type is EntryType.DIR:
                dirs.add(text)
            add_parents(text, dirs)
            name = text[text.rfind("/") + 1 :]
            if name == "pyvenv.cfg" and entry.has_content:
                self.venv_cfgs.append(path)
            if name in ("os.py", "os.pyc") and (match := _STDLIB.match(text)):
                prefix = PurePosixPath(match.group("prefix") or ".")
                self.stdlibs.setdefault(path.parent, (prefix, match.group("ver")))
            elif name.endswith(".zip") and (match := _STDLIB_ZIP.match(text)):
                prefix = PurePosixPath(match.group("prefix") or ".")
                version = f"{match.group('major')}.{match.group('minor')}"
                stdlib = prefix / match.group("lib") / f"python{version}"
                self.stdlibs.setdefault(stdlib, (prefix, version))
            if "-packages" in text and (match := _SITE_DIR.match(text)):
                site_texts.setdefault(match.group(0), match.group("ver"))
        self.site_dirs = {PurePosixPath(text): version for text, version in site_texts.items()}


def _site_dirs_for(
    scan: _Scan, rootfs: Rootfs, prefix: PurePosixPath, version: str, *, debian_style: bool
) -> tuple[PurePosixPath, ...]:
    candidates: list[PurePosixPath] = []
    for lib in ("lib", "lib64"):
        for kind in ("site-packages", "dist-packages"):
            candidates.append(prefix / lib / f"python{version}" / kind)
    if debian_style:
        # Debian's /usr/bin/python3 also imports from /usr/lib/python3/dist-packages and from
        # /usr/local/lib/pythonX.Y/dist-packages.
        candidates.append(prefix / "lib" / "python3" / "dist-packages")
        candidates.append(PurePosixPath("usr/local/lib") / f"python{version}" / "dist-packages")
    found: list[PurePosixPath] = []
    for candidate in candidates:
        real = _exists_dir(rootfs, scan.dirs, candidate)
        if real is not None and real not in found:
            found.append(real)
    return tuple(found)


def _base_envs(scan: _Scan, rootfs: Rootfs) -> list[PythonEnv]:
    envs: list[PythonEnv] = []
    for stdlib, (prefix, version) in sorted(scan.stdlibs.items()):
        if any(e.stdlib_dir == stdlib for e in envs):
            continue
        debian_style = prefix == PurePosixPath("usr") and "usr/lib/python3" in scan.dirs
        envs.append(
            PythonEnv(
                interpreter=_find_interpreter(rootfs, prefix / "bin", version),
                version=version,
                prefix=prefix,
                stdlib_dir=stdlib,
                site_packages=_site_dirs_for(scan, rootfs, prefix, version, debian_style=debian_style),
                is_venv=False,
            )
        )
    return envs


def _venv_envs(scan: _Scan, rootfs: Rootfs, blobs: BlobStore | None, bases: list[PythonEnv]) -> list[PythonEnv]:
    envs: list[PythonEnv] = []
    for cfg_path in sorted(scan.venv_cfgs):
        prefix = cfg_path.parent
        text = _text(rootfs, blobs, cfg_path) if blobs is not None else None
        values = _parse_pyvenv_cfg(text or "")
        version = _major_minor(values.get("version_info", "") or values.get("version", ""))
        if version is None:
            versions = sorted(v for d, v in scan.site_dirs.items() if prefix in d.parents and "." in v)
            version = versions[0] if versions else None
        if version is None:
            log.info("ignoring %s: no Python version in it or beside it", cfg_path)
            continue
        home = values.get("home")
        base = None
        if home:
            home_dir = rootfs.resolve(_root_relative(home))
            base = next((b for b in bases if b.version == version and rootfs.resolve(b.bin_dir) == home_dir), None)
        if base is None:
            base = next((b for b in bases if b.version == version), None)
        envs.append(
            PythonEnv(
                interpreter=_find_interpreter(rootfs, prefix / "bin", version),
                version=version,
                prefix=prefix,
                stdlib_dir=base.stdlib_dir if base is not None else None,
                site_packages=_site_dirs_for(scan, rootfs, prefix, version, debian_style=False),
                is_venv=True,
                system_site_packages=values.get("include-system-site-packages", "").lower() == "true",
            )
        )
    return envs


def _orphan_envs(scan: _Scan, rootfs: Rootfs, claimed: set[PurePosixPath]) -> list[PythonEnv]:
    grouped: dict[tuple[PurePosixPath, str], list[PurePosixPath]] = {}
    for site_dir, version in sorted(scan.site_dirs.items()):
        if site_dir in claimed or rootfs.resolve(site_dir) in claimed:
            continue
        prefix = site_dir.parent.parent.parent
        grouped.setdefault((prefix, version), []).append(site_dir)
    envs = []
    for (prefix, version), site_dirs in sorted(grouped.items()):
        envs.append(
            PythonEnv(
                interpreter=_find_interpreter(rootfs, prefix / "bin", version),
                version=version,
                prefix=prefix,
                stdlib_dir=None,
                site_packages=tuple(site_dirs),
                is_venv=False,
            )
        )
    return envs


def config_interpreters(rootfs: Rootfs, config: ImageConfig) -> tuple[PurePosixPath, ...]:
    """Interpreters the config reaches: ``python*`` in Entrypoint/Cmd, then ``python*`` in PATH order."""
    found: list[PurePosixPath] = []
    path_dirs = [d for d in (config.env_value("PATH") or DEFAULT_PATH).split(":") if d.startswith("/")]
    for command in (config.entrypoint, config.cmd):
        if command and _INTERPRETER_NAME.match(PurePosixPath(command[0]).name):
            program = command[0]
            candidates = (
                [_root_relative(program)] if "/" in program else [_root_relative(d) / program for d in path_dirs]
            )
            for candidate in candidates:
                if _is_executable(rootfs, candidate):
                    found.append(candidate)
                    break
    for directory in path_dirs:
        for name in ("python3", "python"):
            candidate = _root_relative(directory) / name
            if _is_executable(rootfs, candidate) and candidate not in found:
                found.append(candidate)
    return tuple(found)


def _env_of_interpreter(rootfs: Rootfs, envs: list[PythonEnv], interpreter: PurePosixPath) -> int | None:
    for index, env in enumerate(envs):
        if env.is_venv and interpreter.parent == env.bin_dir:
            return index
    real = rootfs.resolve(interpreter)
    for index, env in enumerate(envs):
        if env.interpreter is not None and rootfs.resolve(env.interpreter) == real and not env.is_venv:
            return index
    if real is not None:
        for index, env in enumerate(envs):
            if not env.is_venv and real.parent.parent == env.prefix:
                return index
    return None


def find_python_envs(rootfs: Rootfs, config: ImageConfig, blobs: BlobStore | None = None) -> tuple[PythonEnv, ...]:
    """Every Python environment of the image; those the config's PATH/Entrypoint/Cmd reach come first.

    ``blobs`` lets discovery read ``pyvenv.cfg`` (version, ``home``, system site-packages); without it the
    version of a venv is taken from its ``lib/pythonX.Y`` directory.
    """
    scan = _Scan(rootfs)
    bases = _base_envs(scan, rootfs)
    venvs = _venv_envs(scan, rootfs, blobs, bases)
    claimed = {d for env in (*bases, *venvs) for d in env.site_packages}
    claimed |= {rootfs.resolve(d) or d for d in claimed}
    # site-packages inside a venv with an unusual layout belong to that venv, not to an orphan env
    venv_prefixes = {v.prefix for v in venvs}
    orphans = [
        env
        for env in _orphan_envs(scan, rootfs, claimed)
        if not any(prefix == env.prefix or prefix in env.prefix.parents for prefix in venv_prefixes)
    ]
    envs = [*bases, *venvs, *orphans]
    for interpreter in config_interpreters(rootfs, config):
        if _env_of_interpreter(rootfs, envs, interpreter) is not None:
            continue
        real = rootfs.resolve(interpreter)
        match = _INTERPRETER_NAME.match(real.name) if real is not None else None
        if real is None or match is None or match.group("ver") is None or "." not in match.group("ver"):
            log.info("config names interpreter %s but its environment cannot be told", interpreter)
            continue
        version = match.group("ver")
        prefix = real.parent.parent
        envs.append(
            PythonEnv(
                interpreter=interpreter,
                version=version,
                prefix=prefix,
                stdlib_dir=None,
                site_packages=_site_dirs_for(scan, rootfs, prefix, version, debian_style=False),
                is_venv=False,
            )
        )
    order: list[int] = []
    for interpreter in config_interpreters(rootfs, config):
        index = _env_of_interpreter(rootfs, envs, interpreter)
        if index is not None and index not in order:
            order.append(index)
    order.extend(i for i in range(len(envs)) if i not in order)
    return tuple(envs[i] for i in order)


# --- distributions ---------------------------------------------------------------------------------------


def _requirement_names(lines: Iterable[str]) -> tuple[str, ...]:
    names: list[str] = []
    for line in lines:
        requirement, _, marker = line.partition(";")
        if _EXTRA_MARKER.search(marker):
            continue
        match = _REQUIREMENT_NAME.match(requirement)
        if match:
            name = normalize_name(match.group(1))
            if name not in names:
                names.append(name)
    return tuple(names)


def _egg_requires(text: str) -> tuple[str, ...]:
    """``requires.txt``: unconditional lines and ``[:marker]`` sections; ``[extra]`` sections are optional."""
    lines: list[str] = []
    section_is_extra = False
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("[") and line.endswith("]"):
            section_is_extra = not line[1:-1].startswith(":")
            continue
        if not section_is_extra:
            lines.append(line)
    return _requirement_names(lines)


def _console_scripts(text: str | None) -> tuple[str, ...]:
    if not text:
        return ()
    scripts: list[str] = []
    in_section = False
    for raw in text.splitlines():
        line = raw.strip()
        if line.startswith("["):
            in_section = line in ("[console_scripts]", "[gui_scripts]")
            continue
        name, sep, _ = line.partition("=")
        if in_section and sep and name.strip():
            scripts.append(name.strip())
    return tuple(scripts)


def record_rows(text: str | None) -> list[str]:
    """The paths a wheel's RECORD lists (its first CSV column), as written: relative to the site-packages
    directory, or absolute."""
    if not text:
        return []
    return [row[0].strip() for row in csv.reader(io.StringIO(text)) if row and row[0].strip()]


def installed_files_rows(text: str | None) -> list[str]:
    """The paths an egg-info's ``installed-files.txt`` lists, as written: relative to the egg-info directory."""
    return [line.strip() for line in (text or "").splitlines() if line.strip()]


def _resolve_listed(
    raws: Iterable[str], base: PurePosixPath, env: PythonEnv
) -> tuple[tuple[PurePosixPath, ...], tuple[str, ...]]:
    """Root-relative paths for entries listed relative to ``base``; entries leaving the env are rejected."""
    inside: list[PurePosixPath] = []
    rejected: list[str] = []
    for raw in raws:
        if raw.startswith("/"):
            normalized = posixpath.normpath(raw).lstrip("/") or "."
        else:
            normalized = posixpath.normpath(posixpath.join(str(base), raw))
        path = PurePosixPath(normalized)
        if normalized == ".." or normalized.startswith("../") or not env.contains(path):
            rejected.append(raw)
            continue
        inside.append(path)
    return tuple(dict.fromkeys(inside)), tuple(rejected)


def _metadata_dirs(rootfs: Rootfs, site_dir: PurePosixPath) -> list[PurePosixPath]:
    """The ``*.dist-info`` and ``*.egg-info`` folders directly in ``site_dir`` (or implied by entries below
    them), found by the text of the paths below it: ``parts`` would leave a tuple cached on every path."""
    cut = 0 if site_dir == ROOT else len(str(site_dir)) + 1
    names: set[str] = set()
    for entry in rootfs.under(site_dir):
        name = str(entry.path)[cut:].partition("/")[0]
        if name.endswith(METADATA_SUFFIXES) and name.rfind(".") > 0:  # a suffix, as ``PurePosixPath.suffix``
            names.add(name)
    return sorted(site_dir / name for name in names)


def _read_distribution(
    rootfs: Rootfs, blobs: BlobStore, env: PythonEnv, site_dir: PurePosixPath, meta: PurePosixPath
) -> Distribution | None:
    entry = rootfs.get(meta)
    is_egg_file = meta.suffix == ".egg-info" and entry is not None and entry.has_content
    if meta.suffix == ".dist-info":
        headers_text = _text(rootfs, blobs, meta / "METADATA")
    elif is_egg_file:
        headers_text = _text(rootfs, blobs, meta)
    else:
        headers_text = _text(rootfs, blobs, meta / "PKG-INFO")
    if headers_text is None:
        log.info("skipping %s: no METADATA/PKG-INFO", meta)
        return None
    headers = HeaderParser().parsestr(headers_text, headersonly=True)
    stem = meta.name.rsplit(".", 1)[0]
    name = headers.get("Name") or stem.split("-")[0]
    version = headers.get("Version") or (stem.split("-")[1] if "-" in stem else "")
    if meta.suffix == ".dist-info":
        requires = _requirement_names(headers.get_all("Requires-Dist") or [])
        record = _text(rootfs, blobs, meta / "RECORD")
        files, rejected = _resolve_listed(record_rows(record), site_dir, env)
        has_record = record is not None
    elif is_egg_file:
        requires, files, rejected, has_record = (), (), (), False
    else:
        requires = _egg_requires(_text(rootfs, blobs, meta / "requires.txt") or "")
        installed = _text(rootfs, blobs, meta / "installed-files.txt")
        files, rejected = _resolve_listed(installed_files_rows(installed), meta, env)
        has_record = installed is not None
    top_text = None if is_egg_file else _text(rootfs, blobs, meta / "top_level.txt")
    top_level = tuple(line.strip() for line in (top_text or "").splitlines() if line.strip())
    scripts = () if is_egg_file else _console_scripts(_text(rootfs, blobs, meta / "entry_points.txt"))
    return Distribution(
        name=str(name).strip(),
        version=str(version).strip(),
        site_packages=site_dir,
        metadata_dir=meta,
        top_level=top_level,
        files=files,
        rejected_files=rejected,
        requires=requires,
        console_scripts=scripts,
        has_record=has_record,
    )


def find_distributions(rootfs: Rootfs, env: PythonEnv, blobs: BlobStore) -> tuple[Distribution, ...]:
    """The distributions installed in ``env``'s site-packages directories, sorted by directory."""
    found: list[Distribution] = []
    for site_dir in env.site_packages:
        for meta in _metadata_dirs(rootfs, site_dir):
            distribution = _read_distribution(rootfs, blobs, env, site_dir, meta)
            if distribution is not None:
                found.append(distribution)
    return tuple(found)
