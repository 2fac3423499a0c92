"""``harden report IMAGE``: the security review of any image, without changing it."""

from __future__ import annotations

from pathlib import Path

import click

from harden import api
from harden.cli.options import command_progress, max_image_size
from harden.units import human_bytes


@click.command()
@click.argument("image")
@click.option("--policy", "policy_name", metavar="NAME|FILE",
              help="Record this policy in the report's identity (no stage runs).")
@click.option("--report-dir", type=click.Path(file_okay=False, path_type=Path),
              help="Where the reports go (default reports/<image name>).")
@click.option("--fail-on", type=click.Choice(["error", "warning", "never"]), default="error",
              show_default=True, help="Exit 1 when findings at or above this severity exist.")
@click.option("--sanitize", is_flag=True, help="Drop unsafe layer entries (listed) instead of refusing the image.")
@click.option("--platform", metavar="OS/ARCH[/VARIANT]",
              help="The platform to review when IMAGE is an index (default: this machine's).")
@max_image_size
def report(image: str, policy_name: str | None, report_dir: Path | None, fail_on: str, sanitize: bool,
           platform: str | None, max_image_bytes: int | None) -> None:
    """Write report.json/md/html/sarif and a CycloneDX SBOM for IMAGE (an engine image name or any transport
    of `harden image --help`). Nothing is changed or written to the engine."""
    progress = command_progress()
    try:
        written = api.review_image(image, policy=policy_name, report_dir=report_dir, progress=progress,
                                   sanitize=sanitize, max_image_bytes=max_image_bytes, platform=platform)
    finally:
        progress.close()
    sizes = written.report["sizes"]["before"]
    counts = written.counts()
    click.echo(f"image:    {image}  ({human_bytes(sizes['bytes'])}, {sizes['files']} files)")
    click.echo(f"findings: {counts['error']} error, {counts['warning']} warning, {counts['info']} info")
    click.echo(f"reports:  {written.report_dir}")
    written.enforce(fail_on)
