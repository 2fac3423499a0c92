"""Accounting lost modules to the stage that removed them on purpose (``account_losses``): by the removed path
that held the module, by a stage's declaration, by what the module now lacks (an accounted module, a removed
distribution) or by a file it read; anything else is a failure, with a hint when a stage removed its file
without meaning to remove code."""

from __future__ import annotations

from pathlib import PurePosixPath

from hypothesis import given
from hypothesis import strategies as st

from harden.image.blobs import BlobStore
from harden.image.model import EntryType, FileEntry, ImageConfig, Rootfs
from harden.job.policy_facts import ledger_of
from harden.pipeline import run_pipeline
from harden.plan import GiveUp, Plan, Remove
from harden.stages.base import StageContext, StageSettings
from harden.verify.accounting import Ledger, ModuleAccount, Removal, account_losses
from harden.verify.result import Accounting, ModuleLoss, ModuleOutcome, OutcomeKind

SITE = "/opt/venv/lib/python3.11/site-packages"
TESTS = Removal("remove-tests", "test suite", f"{SITE}/pandas/tests", removes_modules=True)
DOCS = Removal("remove-docs", "documentation", f"{SITE}/lib/docs", removes_modules=False)
INSTALLER = Removal("remove-installers", "installer", f"{SITE}/setuptools", removes_modules=True)
DATA = Removal("remove-tests", "test data", f"{SITE}/tz/tests/data", removes_modules=True)


def loss(module: str, origin: str = "", error: str = "ModuleNotFoundError: gone",
         kind: OutcomeKind = OutcomeKind.ERROR) -> ModuleLoss:
    return ModuleLoss(module, ModuleOutcome(module, OutcomeKind.OK, origin=origin),
                      ModuleOutcome(module, kind, error, isolated=True))


def needs(module: str, missing: str, origin: str = "") -> ModuleLoss:
    return loss(module, origin, f"ModuleNotFoundError: No module named '{missing}'")


def by_module(losses: tuple[ModuleLoss, ...]) -> dict[str, ModuleLoss]:
    return {item.module: item for item in losses}


def test_a_module_below_a_path_removed_on_purpose_is_accounted_to_that_removal() -> None:
    (result,) = account_losses([loss("pandas.tests.frame.test_api", f"{SITE}/pandas/tests/frame/test_api.py")],
                               Ledger.of([TESTS, DOCS]))
    assert result.accounting == Accounting("remove-tests", "test suite", f"{SITE}/pandas/tests")
    assert result.hint == ""


def test_a_module_removed_without_removes_modules_fails_with_a_hint_naming_stage_and_reason() -> None:
    (result,) = account_losses([loss("lib.docs.conf", f"{SITE}/lib/docs/conf.py")], Ledger.of([TESTS, DOCS]))
    assert result.accounting is None
    assert result.hint == f"{SITE}/lib/docs was removed by remove-docs (documentation)"


def test_a_module_no_stage_touched_fails_without_a_hint() -> None:
    (result,) = account_losses([loss("requests", f"{SITE}/requests/__init__.py")], Ledger.of([TESTS, DOCS]))
    assert (result.accounting, result.hint) == (None, "")


def test_a_stage_declaration_covers_the_module_and_its_submodules_not_a_sibling_with_a_common_prefix() -> None:
    ledger = Ledger.of([], [ModuleAccount("pyspark.testing", "remove-jvm-payload", "needs the jars")])
    results = by_module(account_losses(
        [loss("pyspark.testing"), loss("pyspark.testing.utils"), loss("pyspark.testing.utils:main"),
         loss("pyspark.testingx"), loss("pyspark")], ledger))
    for name in ("pyspark.testing", "pyspark.testing.utils", "pyspark.testing.utils:main"):
        assert results[name].accounting == Accounting("remove-jvm-payload", "needs the jars"), name
    assert results["pyspark.testingx"].accounting is None
    assert results["pyspark"].accounting is None


def test_a_module_that_needs_an_accounted_module_is_accounted_through_it() -> None:
    results = by_module(account_losses(
        [needs("distutils_helper", "setuptools"), loss("setuptools", f"{SITE}/setuptools/__init__.py"),
         needs("plugin", "setuptools.command.build"), needs("other", "numpy")],
        Ledger.of([INSTALLER])))
    direct = Accounting("remove-installers", "installer", f"{SITE}/setuptools")
    assert results["setuptools"].accounting == direct
    assert results["distutils_helper"].accounting == Accounting(
        "remove-installers", "installer", f"{SITE}/setuptools", via="needs setuptools")
    assert results["plugin"].accounting is not None  # a submodule of an accounted module
    assert results["plugin"].accounting.via == "needs setuptools.command.build"
    assert results["other"].accounting is None  # numpy's loss is not accounted


def test_a_chain_of_needs_is_accounted_whatever_the_order() -> None:
    chain = [needs("a", "b"), needs("b", "c"), loss("c", f"{SITE}/setuptools/c.py")]
    for ordered in (chain, chain[::-1], [chain[1], chain[2], chain[0]]):
        results = by_module(account_losses(ordered, Ledger.of([INSTALLER])))
        assert [results[name].accounting is not None for name in "abc"] == [True, True, True]
        assert (results["a"].accounting.via, results["b"].accounting.via) == ("needs b", "needs c")  # type: ignore[union-attr]


def test_a_distribution_removed_on_purpose_accounts_its_modules_and_what_needs_them() -> None:
    ledger = Ledger.of([], distributions=["pip", "_distutils_hack"])
    results = by_module(account_losses([loss("pip._internal.cli"), needs("tool", "pip"),
                                        loss("_distutils_hack.override"), loss("pipx")], ledger))
    assert results["pip._internal.cli"].accounting == Accounting(
        "remove-installers", "distribution providing pip removed on purpose")
    assert results["tool"].accounting is not None and results["tool"].accounting.via == "needs pip"
    assert results["_distutils_hack.override"].accounting is not None
    assert results["pipx"].accounting is None


def test_a_file_read_in_the_original_that_a_removal_of_modules_took_accounts_the_module() -> None:
    data_file = f"{SITE}/tz/tests/data/zones.bin"
    lost = loss("tz.loader", f"{SITE}/tz/loader.py", "FileNotFoundError: zones.bin")
    (result,) = account_losses([lost], Ledger.of([DATA]), opened={data_file: ("tz.loader",)})
    assert result.accounting == Accounting("remove-tests", "test data", f"{SITE}/tz/tests/data",
                                           via=f"reads {data_file}")


def test_a_file_read_that_a_stage_removed_without_meaning_to_remove_code_is_a_failure_with_a_hint() -> None:
    read = f"{SITE}/lib/docs/template.txt"
    (result,) = account_losses([loss("lib.render", f"{SITE}/lib/render.py")], Ledger.of([DOCS]),
                               opened={read: ("lib.render", "lib.other")})
    assert result.accounting is None
    assert result.hint == f"it read {read} in the original, which remove-docs removed (documentation)"


def test_a_file_read_that_no_stage_removed_accounts_nothing() -> None:
    (result,) = account_losses([loss("lib.render", f"{SITE}/lib/render.py")], Ledger.of([TESTS]),
                               opened={"/etc/lib.conf": ("lib.render",)})
    assert (result.accounting, result.hint) == (None, "")


def test_paths_are_compared_as_the_stages_saw_them() -> None:
    """``real`` resolves the original's symlinks: /usr/local/lib/python3 -> /opt/venv/lib/python3.11."""
    origin = "/usr/local/lib/python3/site-packages/pandas/tests/test_x.py"

    def real(path: str) -> str:
        return path.replace("/usr/local/lib/python3/", "/opt/venv/lib/python3.11/")

    assert account_losses([loss("pandas.tests.test_x", origin)], Ledger.of([TESTS]))[0].accounting is None
    (result,) = account_losses([loss("pandas.tests.test_x", origin)], Ledger.of([TESTS]), real=real)
    assert result.accounting is not None and result.accounting.path == TESTS.path


def test_the_removal_of_a_path_is_itself_or_its_nearest_removed_ancestor() -> None:
    ledger = Ledger.of([TESTS, Removal("remove-tests", "one file", f"{SITE}/pandas/tests/conftest.py", True)])
    assert ledger.removal_of(f"{SITE}/pandas/tests/conftest.py").reason == "one file"  # type: ignore[union-attr]
    assert ledger.removal_of(f"{SITE}/pandas/tests/io/test_a.py") == TESTS
    assert ledger.removal_of(f"{SITE}/pandas/testsuite.py") is None
    assert ledger.removal_of("") is None


class _Plans:
    name = "stand-in"
    settings_type = StageSettings

    def plan(self, ctx: StageContext[StageSettings]) -> Plan:
        return Plan(self.name, (Remove(PurePosixPath("app/tests"), "test suite", "tests", removes_modules=True),
                                Remove(PurePosixPath("app/docs"), "documentation", "docs")),
                    gives_up=(GiveUp("app.jvm", "needs the jars"),))


def test_the_ledger_of_a_pipeline_run_carries_removes_modules_and_declarations(blobs: BlobStore) -> None:
    entries = {PurePosixPath(p): FileEntry(PurePosixPath(p), EntryType.DIR, mode=0o755)
               for p in ("app", "app/tests", "app/docs")}
    config = ImageConfig({"architecture": "amd64", "os": "linux", "config": {}})
    result = run_pipeline(Rootfs(entries), config, blobs, [(_Plans(), StageSettings(enabled=True))])
    ledger = ledger_of(result.records)
    assert ledger.removals["/app/tests"] == Removal("stand-in", "test suite", "/app/tests", True)
    assert ledger.removals["/app/docs"] == Removal("stand-in", "documentation", "/app/docs", False)
    assert ledger.modules == (ModuleAccount("app.jvm", "stand-in", "needs the jars"),)


MODULES = st.sampled_from(["a", "a.b", "b", "c", "c.d:main", "pip", "pip.x", "setuptools", "lib.docs", "e"])
ORIGINS = st.sampled_from(["", f"{SITE}/pandas/tests/t.py", f"{SITE}/lib/docs/x.py", f"{SITE}/setuptools/s.py",
                           f"{SITE}/kept/k.py"])
ERRORS = st.sampled_from(["ImportError: x", "ModuleNotFoundError: No module named 'a'",
                          "ModuleNotFoundError: No module named 'setuptools'",
                          "ModuleNotFoundError: No module named 'pip.x'", "ModuleNotFoundError: No module named 'e'"])


@given(st.dictionaries(MODULES, st.tuples(ORIGINS, ERRORS)),
       st.sets(st.sampled_from([TESTS, DOCS, INSTALLER, DATA])),
       st.booleans())
def test_every_loss_comes_back_exactly_once_accounted_or_not(
        lost: dict[str, tuple[str, str]], removals: set[Removal], declare: bool) -> None:
    losses = [loss(module, origin, error) for module, (origin, error) in lost.items()]
    ledger = Ledger.of(removals, [ModuleAccount("e", "stage", "why")] if declare else [],
                       distributions=["pip"])
    results = account_losses(losses, ledger)
    assert [item.module for item in results] == sorted(lost)
    for item in results:
        assert item.before == by_module(tuple(losses))[item.module].before
        if item.accounting is not None:
            assert item.hint == ""
