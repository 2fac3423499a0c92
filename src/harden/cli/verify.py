"""``harden verify ORIGINAL HARDENED``: prove the hardened image still does what the original did."""

from __future__ import annotations

from pathlib import Path

import click

from harden import api
from harden.cli.options import command_progress, max_image_size


@click.command()
@click.argument("original")
@click.argument("hardened")
@click.option("--policy", "policy_name", metavar="NAME|FILE", help="Policy whose [verify] section applies.")
@click.option("--report-dir", type=click.Path(file_okay=False, path_type=Path), help="Write verify.json here.")
@click.option("--runner", type=click.Choice(["auto", "engine", "sandbox"]), default="auto", show_default=True)
@click.option("--jobs", type=click.IntRange(min=0), default=0, help="Parallel probe workers (0 = all cores).")
@click.option("--platform", metavar="OS/ARCH[/VARIANT]",
              help="The platform to verify when the images are indexes (default: this machine's).")
@click.option("--tls-verify", type=click.BOOL, default=None, metavar="BOOL",
              help="Registries: verify TLS (default; plain HTTP only for loopback registries), or not (false).")
@max_image_size
def verify(original: str, hardened: str, policy_name: str | None, report_dir: Path | None, runner: str,
           jobs: int, platform: str | None, tls_verify: bool | None, max_image_bytes: int | None) -> None:
    """Diff-verify HARDENED against ORIGINAL (exit 1 when anything regressed); each is an engine image name or
    any transport of `harden image --help`."""
    progress = command_progress()
    try:
        report = api.verify_images(original, hardened, policy=policy_name, report_dir=report_dir, runner=runner,
                                   jobs=jobs, progress=progress, max_image_bytes=max_image_bytes,
                                   platform=platform, tls_verify=tls_verify)
    finally:
        progress.close()
    click.echo(report.summary())
    for line in report.failures():
        click.echo(f"  FAIL {line}")
    api.raise_if_failed(report)
