"""``harden image SOURCE``: rewrite an image into a slim, shell-free, non-root one."""

from __future__ import annotations

from pathlib import Path

import click

from harden import api
from harden.cli.format import print_plan, print_summary
from harden.cli.options import command_progress, max_image_size
from harden.units import human_bytes


def _help() -> str:
    return (
        "Harden SOURCE: an engine image name, or any transport below.\n\n"
        "The source is never changed. The result is tagged/written only after verification passed, every output "
        "or none. An index (a multi-platform image) is hardened platform by platform and written as an index of "
        "the same platforms; each platform is verified where this machine can run it (natively, or through "
        "binfmt_misc/qemu-user), else by the static ELF linkage check, and the reports say which.\n\n"
        "\b\nTransports (SOURCE and --output):\n"
        + "\n".join(f"  {line}" for line in api.transports_help().splitlines())
    )


@click.command(help=_help())
@click.argument("source")
@click.option("--policy", "policy_name", metavar="NAME|FILE",
              help="Policy to apply (default: the shipped policy named like the image, else 'default').")
@click.option("--tag", help="Tag for the hardened image in the engine (default NAME:hardened for engine sources).")
@click.option("--output", "outputs", multiple=True, metavar="REF",
              help="Also write docker://HOST/REPO:TAG, oci:DIR[:REF], oci-archive:PATH[:REF], "
                   "docker-archive:PATH[:NAME:TAG] or docker-daemon:NAME:TAG (repeatable).")
@click.option("--platform", "platforms", multiple=True, metavar="OS/ARCH[/VARIANT]",
              help="Harden only these platforms of an index (repeatable; default: every platform). A platform the "
                   "source lacks is a usage error.")
@click.option("--compression", metavar="gzip|zstd[:LEVEL]",
              help="Layer compression of oci:, oci-archive: and docker:// outputs (default gzip:6; zstd default "
                   "level 3). docker-archive: and the engine keep layers uncompressed.")
@click.option("--tls-verify", type=click.BOOL, default=None, metavar="BOOL",
              help="Registries: verify TLS (default; plain HTTP only for loopback registries). false: skopeo's "
                   "--tls-verify=false (plain HTTP allowed, certificates not checked).")
@click.option("--report-dir", type=click.Path(file_okay=False, path_type=Path),
              help="Where the reports go (default reports/<image name>).")
@click.option("--sign-key", type=click.Path(path_type=Path), envvar="HARDEN_SIGN_KEY", show_envvar=True,
              metavar="PEM",
              help="Sign the run's in-toto statements (SLSA provenance, verification summary, SBOM; written beside "
                   "the reports and attached to oci:, oci-archive: and docker:// outputs as OCI referrers) with "
                   "this ECDSA P-256 or Ed25519 private key; an encrypted key's passphrase comes from "
                   "HARDEN_SIGN_KEY_PASSWORD. Without it the statements are written unsigned. Check them with "
                   "`harden attest verify`.")
@click.option("--no-verify", is_flag=True, help="Skip diff-verification (not recommended).")
@click.option("--dry-run", is_flag=True, help="Plan only: print what each stage would change; write no image.")
@click.option("--sanitize", is_flag=True, help="Drop unsafe layer entries (recorded) instead of refusing the image.")
@click.option("--runner", type=click.Choice(["auto", "engine", "sandbox"]), default="auto", show_default=True,
              help="Where verification probes run.")
@click.option("--jobs", type=click.IntRange(min=0), default=0, help="Worker processes (0 = all cores).")
@click.option("--fail-on", type=click.Choice(["error", "warning", "never"]), default="error", show_default=True,
              help="Exit 1 when the hardened image still has findings at or above this severity "
                   "(the image is written all the same; verification failures always exit 1 and write nothing).")
@max_image_size
def image(
    source: str,
    policy_name: str | None,
    tag: str | None,
    outputs: tuple[str, ...],
    report_dir: Path | None,
    no_verify: bool,
    dry_run: bool,
    sanitize: bool,
    runner: str,
    jobs: int,
    fail_on: str,
    max_image_bytes: int | None,
    platforms: tuple[str, ...],
    compression: str | None,
    tls_verify: bool | None,
    sign_key: Path | None,
) -> None:
    progress = command_progress()
    try:
        result = api.harden_image(
            source,
            policy=policy_name,
            tag=tag,
            outputs=outputs,
            report_dir=report_dir,
            verify=not no_verify,
            dry_run=dry_run,
            sanitize=sanitize,
            runner=runner,
            jobs=jobs,
            fail_on=fail_on,
            progress=progress,
            max_image_bytes=max_image_bytes,
            platforms=platforms,
            compression=compression,
            tls_verify=tls_verify,
            sign_key=sign_key,
        )
    finally:
        progress.close()
    if dry_run:
        print_plan(result)
    print_summary(result)
    if dry_run:
        click.echo(f"dry run: would save {human_bytes(result.bytes_before - result.bytes_after)}; nothing written")
    api.enforce_fail_on(result, fail_on)
