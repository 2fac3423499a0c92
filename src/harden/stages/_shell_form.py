"""Turning shell-form commands (``["/bin/sh", "-c", "python3 app.py"]``) into exec form, where that is safe.

Safe means the command string is one simple command: no shell metacharacter (pipes, lists, redirections,
substitutions, quotes, globs, comments, tilde, assignments, job control), no newline, and a program that is
not a shell builtin or keyword. A leading ``exec`` is dropped (exec form already replaces PID 1). Anything
else raises ``UnsupportedImage`` naming the config field and the command: guessing would change behaviour.
"""

from __future__ import annotations

import shlex
from collections.abc import Collection, Sequence
from pathlib import PurePosixPath

from harden.errors import UnsupportedImage

METACHARACTERS = frozenset("|&;<>()$`\\\"'*?[#~=%{}!\n\r")
BUILTINS = frozenset(
    {
        ".", ":", "[[", "alias", "bg", "break", "case", "cd", "command", "continue", "declare", "do", "done",
        "elif", "else", "esac", "eval", "exit", "export", "fg", "fi", "for", "function", "getopts", "hash",
        "if", "jobs", "let", "local", "read", "readonly", "return", "select", "set", "shift", "source",
        "then", "time", "trap", "type", "typeset", "ulimit", "umask", "unalias", "unset", "until", "wait",
        "while",
    }
)  # fmt: skip


def shell_of(argv: Sequence[str], shells: Collection[str]) -> str | None:
    """The shell ``argv`` starts, if its program is one of ``shells`` (by basename)."""
    if not argv:
        return None
    name = PurePosixPath(argv[0]).name
    return argv[0] if name in shells else None


_HARMLESS_FLAGS = frozenset("euxv")  # errexit, nounset, xtrace, verbose: no effect on one simple command


def command_index(argv: Sequence[str]) -> int | None:
    """Index of the command string in ``[shell, options…, "-c", command, …]`` (may equal ``len(argv)``
    when the command comes from Cmd); None when the options are not just -c plus harmless ones
    (``-e``, ``-u``, ``-x``, ``-v``, ``-o name``): a login or interactive shell reads profiles first."""
    index = 1
    while index < len(argv):
        arg = argv[index]
        if arg in ("-o", "+o"):
            index += 2
            continue
        flags = set(arg[1:])
        if len(arg) < 2 or arg[0] not in "-+" or not flags <= _HARMLESS_FLAGS | {"c"}:
            return None
        if "c" in flags:
            return index + 1
        index += 1
    return None


def is_shell_form(argv: Sequence[str], shells: Collection[str]) -> bool:
    return shell_of(argv, shells) is not None and command_index(argv) is not None


def split_command(field: str, command: str, shells: Collection[str]) -> list[str]:
    """Exec-form argv for the shell command string ``command`` of config field ``field``, or raise."""

    def refuse(why: str) -> UnsupportedImage:
        return UnsupportedImage(
            f"{field} is a shell command that cannot run without a shell ({why}): {command!r}; "
            "rewrite it in exec form or disable drop-shells",
            details=[f"{field}: {command}"],
        )

    bad = sorted(METACHARACTERS.intersection(command))
    if bad:
        shown = " ".join("\\n" if c == "\n" else "\\r" if c == "\r" else c for c in bad)
        raise refuse(f"shell syntax {shown}")
    words = shlex.split(command)
    if words and words[0] == "exec":
        words = words[1:]
    if not words:
        raise refuse("no program")
    if words[0] in BUILTINS:
        raise refuse(f"{words[0]!r} is a shell builtin")
    if PurePosixPath(words[0]).name in shells:
        raise refuse(f"it starts another shell, {words[0]}")
    return words


def to_exec_form(field: str, argv: Sequence[str], shells: Collection[str]) -> list[str]:
    """``["sh", "-c", "cmd", ...]`` → ``cmd`` split into words. Arguments after the command string are the
    shell's ``$0``, ``$1``…, which a simple command (no ``$``) never reads, so they are dropped."""
    index = command_index(argv)
    if index is None or index >= len(argv):
        raise UnsupportedImage(
            f"{field} runs a shell that cannot be replaced by exec form: {list(argv)!r}",
            details=[f"{field}: {list(argv)}"],
        )
    return split_command(field, argv[index], shells)
