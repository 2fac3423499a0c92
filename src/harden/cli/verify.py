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
@max_image_size
def verify(original: str, hardened: str, policy_name: str | None, report_dir: Path | None, runner: str,
           jobs: int, max_image_bytes: int | None) -> None:
    """Diff-verify HARDENED against ORIGINAL (exit 1 when anything regressed)."""
    progress = command_progress()
    try:
        report = api.verify_images(original, hardened, policy=policy_name, report_dir=report_dir, runner=runner,
                                   jobs=jobs, progress=progress, max_image_bytes=max_image_bytes)
    finally:
        progress.close()
    click.echo(report.summary())
    for line in report.failures():
        click.echo(f"  FAIL {line}")
    api.raise_if_failed(report)
