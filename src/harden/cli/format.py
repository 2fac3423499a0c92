"""Human-readable output of the CLI (the library never prints)."""

from __future__ import annotations

import click

from harden.api import HardenResult
from harden.pipeline import StageRecord
from harden.units import human_bytes


def print_summary(result: HardenResult) -> None:
    click.echo(f"source:  {result.source}  (policy {result.policy_name}, {result.policy_digest[:19]})")
    several = len(result.platforms) > 1 or result.is_index
    for platform in result.platforms:
        ratio = platform.bytes_after / platform.bytes_before if platform.bytes_before else 1.0
        if several:
            click.echo(f"platform: {platform.platform}")
        click.echo(
            f"size:    {human_bytes(platform.bytes_before)} -> {human_bytes(platform.bytes_after)} "
            f"({ratio:.0%} of the original), files {platform.files_before} -> {platform.files_after}"
        )
        for record in platform.records:
            click.echo(
                f"  {record.stage:<18} -{human_bytes(record.bytes_saved):>10}  "
                f"{record.files_removed:>6} files  {len(record.changes):>6} changes  {record.seconds:6.1f}s"
            )
        if platform.verification is not None:
            click.echo(f"verify:  {platform.verification.summary()}")
            if platform.how:
                click.echo(f"         {platform.how}")
    for line in result.skipped:
        click.echo(f"left out: {line}")
    for written in result.written:
        click.echo(f"wrote:   {written}")
    if result.attestations:
        click.echo("attested: " + ", ".join(path.name for path in result.attestations)
                   + ("" if any(path.name.endswith(".dsse.json") for path in result.attestations)
                      else " (unsigned: no --sign-key)"))
    if result.report_dir is not None:
        click.echo(f"reports: {result.report_dir}")


def print_plan(result: HardenResult, per_stage: int = 8) -> None:
    """``--dry-run``: what each stage would change, largest first; the full list is in report.json."""
    for platform in result.platforms:
        if len(result.platforms) > 1:
            click.echo(f"\n== {platform.platform}")
        _print_records(platform.records, per_stage)


def _print_records(records: tuple[StageRecord, ...], per_stage: int) -> None:
    for record in records:
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
