"""``harden policy validate FILE`` and ``harden policy show NAME``."""

from __future__ import annotations

import json

import click

from harden import api
from harden.errors import PolicyError


@click.group()
def policy() -> None:
    """Validate and show policies (strict, versioned TOML)."""


@policy.command()
@click.argument("path")
def validate(path: str) -> None:
    """Validate a policy file; every error is listed with its dotted path (exit 2)."""
    try:
        resolved = api.validate_policy(path)
    except PolicyError as exc:
        for problem in exc.details:  # all of them: the one error line shows only the first few
            click.echo(f"{path}: {problem}")
        raise
    click.echo(f"{path}: valid policy {resolved.name!r} (schema {resolved.schema_version}, {resolved.digest})")


@policy.command()
@click.argument("name")
@click.option("--format", "fmt", type=click.Choice(["toml", "json"]), default="toml", show_default=True)
def show(name: str, fmt: str) -> None:
    """Print the fully resolved policy NAME (a shipped name or a file)."""
    resolved = api.load_policy(name)
    if fmt == "json":
        click.echo(json.dumps(resolved.to_dict(), indent=2, sort_keys=True))
    else:
        click.echo(resolved.to_toml(), nl=False)


@policy.command("list")
def list_() -> None:
    """List the shipped policies."""
    for name in api.list_policies():
        click.echo(name)
