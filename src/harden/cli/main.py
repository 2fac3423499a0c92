"""The ``harden`` command: parses, calls ``harden.api``, prints. Every HardenError becomes one line on stderr and
its exit code; anything else is an internal error (exit 4) with the traceback only under ``--debug``."""

from __future__ import annotations

import logging
import signal
import sys
import traceback
from typing import Any

import click

from harden import __version__
from harden.errors import HardenError


class HardenGroup(click.Group):
    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except HardenError as exc:
            click.echo(f"harden: error: {exc.one_line()}", err=True)
            if ctx.obj and ctx.obj.get("debug"):
                traceback.print_exc()
            ctx.exit(exc.exit_code)
        except (click.exceptions.Exit, click.exceptions.Abort, click.ClickException):
            raise
        except KeyboardInterrupt as exc:
            # Ctrl-C exits 130; SIGTERM (Terminated, raised while a workspace is open) exits 143: 128 + signal
            signum = int(getattr(exc, "signum", signal.SIGINT))
            what = "interrupted" if signum == signal.SIGINT else f"terminated by {signal.Signals(signum).name}"
            click.echo(f"harden: {what}; nothing was written", err=True)
            ctx.exit(128 + signum)
        except Exception as exc:
            click.echo(f"harden: internal error: {type(exc).__name__}: {exc} (run with --debug for details)",
                       err=True)
            if ctx.obj and ctx.obj.get("debug"):
                traceback.print_exc()
            ctx.exit(4)


@click.group(cls=HardenGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="harden")
@click.option("--debug", is_flag=True, help="Show tracebacks and debug logging.")
@click.option("-v", "--verbose", is_flag=True, help="Log each step to stderr.")
@click.pass_context
def cli(ctx: click.Context, debug: bool, verbose: bool) -> None:
    """Slim, shell-free, non-root Python container images, verified to import what they did.

    Exit codes: 0 ok, 1 findings (verification or --fail-on), 2 usage or invalid policy,
    3 input or environment (image missing, bad archive, unsafe layer, engine down), 4 internal error;
    130 interrupted (Ctrl-C), 143 terminated (SIGTERM): no output or tag is left half-written.
    """
    ctx.ensure_object(dict)
    ctx.obj["debug"] = debug
    level = logging.DEBUG if debug else logging.INFO if verbose else logging.WARNING
    logging.basicConfig(level=level, stream=sys.stderr, format="harden: %(levelname)s: %(message)s")


def _register() -> None:
    from harden.cli import image, policy, report, verify

    cli.add_command(image.image)
    cli.add_command(policy.policy)
    cli.add_command(verify.verify)
    cli.add_command(report.report)


_register()


def main() -> None:
    cli(prog_name="harden")
