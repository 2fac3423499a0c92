"""The ``harden`` command: parses, calls ``harden.api``, prints. Every HardenError becomes one line on stderr and
its exit code; anything else is an internal error (exit 4) with the traceback only under ``--debug``."""

from __future__ import annotations

import logging
import signal
import sys
import traceback
from typing import Any, NoReturn

import click

from harden import __version__
from harden.errors import HardenError
from harden.progress import ProgressReporter


class HardenGroup(click.Group):
    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except HardenError as exc:
            _error(ctx, exc)
        except (click.exceptions.Exit, click.exceptions.Abort, click.ClickException):
            raise
        except OSError as exc:
            error = _no_space(ctx, exc)
            if error is None:
                _internal_error(ctx, exc)
            _error(ctx, error)
        except KeyboardInterrupt as exc:
            # Ctrl-C exits 130; SIGTERM (Terminated, raised while a workspace is open) exits 143: 128 + signal
            signum = int(getattr(exc, "signum", signal.SIGINT))
            what = "interrupted" if signum == signal.SIGINT else f"terminated by {signal.Signals(signum).name}"
            click.echo(f"harden: {what}; nothing was written", err=True)
            ctx.exit(128 + signum)
        except Exception as exc:
            _internal_error(ctx, exc)


def _error(ctx: click.Context, exc: HardenError) -> NoReturn:
    click.echo(f"harden: error: {exc.one_line()}", err=True)
    if ctx.obj and ctx.obj.get("debug"):
        traceback.print_exc()
    ctx.exit(exc.exit_code)


def _internal_error(ctx: click.Context, exc: Exception) -> NoReturn:
    click.echo(f"harden: internal error: {type(exc).__name__}: {exc} (run with --debug for details)", err=True)
    if ctx.obj and ctx.obj.get("debug"):
        traceback.print_exc()
    ctx.exit(4)


def _no_space(ctx: click.Context, exc: OSError) -> HardenError | None:
    """A full disk or quota (ENOSPC, EDQUOT) anywhere becomes one line naming the filesystem and the step."""
    from harden.api import no_space_error

    progress = ctx.obj.get("progress") if isinstance(ctx.obj, dict) else None
    step = progress.last_phase if isinstance(progress, ProgressReporter) else None
    return no_space_error(exc, step)


@click.group(cls=HardenGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="harden")
@click.option("--debug", is_flag=True, help="Show tracebacks and debug logging.")
@click.option("-v", "--verbose", is_flag=True, help="Log each step to stderr.")
@click.pass_context
def cli(ctx: click.Context, debug: bool, verbose: bool) -> None:
    """Slim, shell-free, non-root Python container images, verified to import what they did.

    Exit codes: 0 ok, 1 findings (verification or --fail-on), 2 usage or invalid policy,
    3 input or environment (image missing, bad archive, unsafe layer, engine down, image over
    --max-image-size, disk full), 4 internal error;
    130 interrupted (Ctrl-C), 143 terminated (SIGTERM): no output or tag is left half-written.
    """
    ctx.ensure_object(dict)
    ctx.obj["debug"] = debug
    level = logging.DEBUG if debug else logging.INFO if verbose else logging.WARNING
    logging.basicConfig(level=level, stream=sys.stderr, format="harden: %(levelname)s: %(message)s")


def _register() -> None:
    from harden.cli import attest, image, policy, report, verify

    cli.add_command(attest.attest)
    cli.add_command(image.image)
    cli.add_command(policy.policy)
    cli.add_command(verify.verify)
    cli.add_command(report.report)


_register()


def main() -> None:
    cli(prog_name="harden")
