"""What a policy removes on purpose, in the terms verification reads: the ledger of the stages' removals,
the shell names and the installer distributions, from the typed stage settings."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from harden.pipeline import StageRecord
from harden.stages.drop_shells import DropShells, DropShellsSettings
from harden.stages.remove_installers import RemoveInstallers, RemoveInstallersSettings

if TYPE_CHECKING:
    from harden.policy import Policy
    from harden.verify.accounting import Ledger


def ledger_of(records: Sequence[StageRecord]) -> Ledger:
    """What the stages removed (by absolute image path) and which modules they gave up, for verification."""
    from harden.verify.accounting import Ledger, ModuleAccount, Removal

    removals = [Removal(record.stage, change.reason, "/" + change.target, change.removes_modules)
                for record in records for change in record.changes if change.action == "remove"]
    modules = [ModuleAccount(give.module, record.stage, give.reason)
               for record in records for give in record.gives_up]
    return Ledger.of(removals, modules)


def shell_names(policy: Policy) -> tuple[str, ...]:
    """The program names the drop-shells stage treats as shells (the policy's typed settings)."""
    return policy.settings_of(DropShells, DropShellsSettings).shells


def deliberate_removals(policy: Policy) -> tuple[str, ...]:
    """Distributions the policy removes on purpose; the metadata diff does not count them as lost."""
    settings = policy.settings_of(RemoveInstallers, RemoveInstallersSettings)
    if not settings.enabled:
        return ()
    return tuple(sorted(name.lower() for name in settings.packages))

