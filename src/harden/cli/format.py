"""Human-readable output of the CLI (the library never prints)."""

from __future__ import annotations

import click

from harden.api import HardenResult
from harden.units import human_bytes


def print_summary(result: HardenResult) -> None:
    ratio = result.bytes_after / result.bytes_before if result.bytes_before else 1.0
    click.echo(f"source:  {result.source}  (policy {result.policy_name}, {result.policy_digest[:19]})")
    click.echo(
        f"size:    {human_bytes(result.bytes_before)} -> {human_bytes(result.bytes_after)} "
        f"({ratio:.0%} of the original), files {result.files_before} -> {result.files_after}"
    )
    for record in result.records:
        click.echo(
            f"  {record.stage:<18} -{human_bytes(record.bytes_saved):>10}  "
            f"{record.files_removed:>6} files  {len(record.changes):>6} changes  {record.seconds:6.1f}s"
        )
    if result.verification is not None:
        click.echo(f"verify:  {result.verification.summary()}")
    for written in result.written:
        click.echo(f"wrote:   {written}")
    if result.report_dir is not None:
        click.echo(f"reports: {result.report_dir}")


def print_plan(result: HardenResult, per_stage: int = 8) -> None:
    """``--dry-run``: what each stage would change, largest first; the full list is in report.json."""
    for record in result.records:
        if not record.changes:
            continue
        click.echo(f"\n{record.stage}: {len(record.changes)} changes, -{human_bytes(record.bytes_saved)}")
        biggest = sorted(record.changes, key=lambda c: (-c.bytes_saved, c.target))[:per_stage]
        for change in biggest:
            size = f"-{human_bytes(change.bytes_saved)}" if change.bytes_saved else ""
            click.echo(f"  {change.action:<10} /{change.target}  {size}  ({change.reason})"[:200])
        if len(record.changes) > per_stage:
            click.echo(f"  … {len(record.changes) - per_stage} more")
    click.echo("")
