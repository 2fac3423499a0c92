"""The catalogue of checks, each with a stable code. Codes shared with dockle mean the same thing as dockle's;
``dockle_level`` records dockle's default level where harden's severity differs or to show the alignment.

harden is stricter where dockle is weak: CIS-DI-0001 also catches ``USER 0``, ``0:0``, ``root:root`` and
names whose passwd uid is 0 (dockle only checks ``""`` and ``"root"``), and root as the default user is an
error, because harden's whole point is a non-root image.
"""

from __future__ import annotations

from harden.report.model import Rule, Severity

ERR, WARN, INFO = Severity.ERROR, Severity.WARNING, Severity.INFO

RULES: dict[str, Rule] = {
    rule.code: rule
    for rule in (
        Rule("CIS-DI-0001", ERR, "Create a user for the container (the default user is root)",
             "Set USER to a non-root uid:gid with a passwd entry (harden's set-user stage does).", "WARN"),
        Rule("CIS-DI-0006", INFO, "Add HEALTHCHECK instruction to the container image",
             "Add a HEALTHCHECK, or leave health to the orchestrator (Kubernetes probes).", "INFO"),
        Rule("CIS-DI-0008", WARN, "Confirm safety of setuid/setgid files",
             "Remove the setuid/setgid bit (chmod u-s,g-s) or the file; non-root images rarely need it.",
             "INFO"),
        Rule("CIS-DI-0010", ERR, "Do not store secrets in environment variables or credential files",
             "Remove the file or ENV key from the image and inject the secret at run time (mounted secret, "
             "vault, workload identity).", "FATAL"),
        Rule("DKL-DI-0005", ERR, "Clear apt-get caches",
             "Run `rm -rf /var/lib/apt/lists/*` in the same RUN as `apt-get install` (harden removes them).",
             "FATAL"),
        Rule("DKL-DI-0006", WARN, "Avoid latest tag",
             "Reference images by an explicit version tag or, better, by digest.", "WARN"),
        Rule("DKL-LI-0001", ERR, "Avoid empty password",
             "Lock the account (`*` or `!` in /etc/shadow) or remove it.", "FATAL"),
        Rule("DKL-LI-0002", ERR, "Be unique UID/GID",
             "Give every passwd user and every group its own id.", "FATAL"),
        Rule("DKL-LI-0003", INFO, "Only put necessary files",
             "Remove caches, VCS and editor folders, Dockerfiles and temporary files.", "INFO"),
        Rule("HDN-0001", ERR, "USER names an account missing from /etc/passwd",
             "Add the user to /etc/passwd (and its group to /etc/group) or set USER to a numeric uid:gid."),
        Rule("HDN-0002", WARN, "World-writable file or directory without the sticky bit",
             "Remove write permission for others (chmod o-w), or set the sticky bit on shared directories."),
        Rule("HDN-0003", WARN, "A shell is present",
             "Remove shells (harden's drop-shells stage) and use exec-form ENTRYPOINT/CMD."),
        Rule("HDN-0004", INFO, "A package installer is present",
             "Remove pip, setuptools, wheel, ensurepip and apt/dpkg when nothing installs at run time."),
        Rule("HDN-0005", WARN, "Private key material in a file",
             "Remove the key from the image and mount it at run time; keep test fixtures out of images."),
        Rule("HDN-0006", WARN, "Executable stack in an ELF file",
             "Rebuild with `-z noexecstack`, or clear the flag (`execstack -c`) once sure none is needed."),
        Rule("HDN-0007", INFO, "ELF file without RELRO",
             "Rebuild with `-Wl,-z,relro,-z,now` so the GOT is read-only after start-up."),
        Rule("HDN-0008", WARN, "RPATH/RUNPATH searches a relative directory",
             "Use $ORIGIN-relative or absolute paths; a relative entry searches the working directory."),
        Rule("HDN-0009", WARN, "Package metadata removed: scanners no longer see this distribution",
             "Keep *.dist-info (and /var/lib/dpkg/status) for every package still installed."),
        Rule("HV-0001", ERR, "A module the original imported no longer imports",
             "Keep the module (a policy keep glob for the stage that removed it), or remove it on purpose with "
             "a stage that says why."),
        Rule("HV-0002", ERR, "A file the original read is gone",
             "Keep the file (a policy keep glob for the stage named), or remove what reads it on purpose."),
        Rule("HV-0003", WARN, "Needs a writable path as a restricted Kubernetes pod",
             "Mount an emptyDir where it writes, or point the library's cache/config variable at one."),
        Rule("HV-0004", ERR, "Verification failed",
             "See the verification section of report.md: a distribution, smoke snippet, start-up or hardening "
             "assertion differs from the original."),
    )
}


def rule(code: str) -> Rule:
    return RULES[code]
