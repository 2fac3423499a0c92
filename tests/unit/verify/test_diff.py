"""Comparing the two surveys: which modules are candidate losses, how one interpreter's import surface is
counted and bucketed, and the importlib.metadata diff."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from harden.verify.diff import (
    DistributionInfo,
    candidate_losses,
    diff_metadata,
    excused_modules,
    import_diff,
    normalize,
)
from harden.verify.result import Accounting, ModuleOutcome, OutcomeKind

OK, ERROR, CRASH, NOT_RUN = OutcomeKind.OK, OutcomeKind.ERROR, OutcomeKind.CRASH, OutcomeKind.NOT_RUN


def outcomes(**kinds: OutcomeKind) -> dict[str, ModuleOutcome]:
    return {name.replace("__", "."): ModuleOutcome(name.replace("__", "."), kind, "" if kind is OK else "boom")
            for name, kind in kinds.items()}


BEFORE = outcomes(json=OK, pkg__lost=OK, pkg__gone=OK, tkinter=ERROR, oldbroken=ERROR, pip=OK)
AFTER = outcomes(json=OK, pkg__lost=ERROR, tkinter=ERROR, oldbroken=OK, pip=CRASH)


def test_candidate_losses_are_what_imported_before_and_not_after() -> None:
    found = {item.module: item for item in candidate_losses(BEFORE, AFTER)}
    assert sorted(found) == ["pip", "pkg.gone", "pkg.lost"]
    assert found["pkg.lost"].after.kind is ERROR
    assert found["pip"].after.kind is CRASH
    gone = found["pkg.gone"].after
    assert (gone.kind, gone.error) == (NOT_RUN, "the hardened walk did not reach it (no such module)")
    assert all(item.before.ok and item.accounting is None for item in found.values())


def test_the_import_surface_counts_and_buckets_of_one_interpreter() -> None:
    losses = candidate_losses(BEFORE, AFTER)
    accounted = [item.evolve(accounting=Accounting("remove-installers", "installer")) if item.module == "pip"
                 else item for item in losses]
    diff = import_diff("/py", BEFORE, AFTER, accounted, skipped={"__main__ module": 2, "stdlib test suite": 5},
                       stdlib_deep=False, order_dependent=["z.late", "a.late"])
    assert [item.module for item in diff.regressions] == ["pkg.gone", "pkg.lost"]
    assert [item.module for item in diff.accounted] == ["pip"]
    assert [change.module for change in diff.preexisting_failures] == ["oldbroken", "tkinter"]
    assert diff.fixed == ("oldbroken",)
    assert diff.order_dependent == ("a.late", "z.late")
    assert diff.counts == {"total": 6, "ok_before": 4, "ok_after": 1, "regressions": 2, "accounted": 1,
                           "preexisting_failures": 2, "fixed": 1, "skipped": 7, "order_dependent": 2}
    assert diff.stdlib_deep is False
    assert diff.to_dict()["skipped"] == [{"reason": "__main__ module", "count": 2},
                                         {"reason": "stdlib test suite", "count": 5}]


def test_a_failure_in_the_original_is_reported_with_both_sides_and_never_blamed() -> None:
    diff = import_diff("/py", BEFORE, AFTER, candidate_losses(BEFORE, AFTER))
    tkinter = next(change for change in diff.preexisting_failures if change.module == "tkinter")
    assert (tkinter.before.kind, tkinter.after.kind) == (ERROR, ERROR)
    assert "tkinter" not in [item.module for item in (*diff.regressions, *diff.accounted)]


KINDS = st.sampled_from(list(OutcomeKind))


@given(st.dictionaries(st.sampled_from(["a", "a.b", "b", "c:main", "d.e", "pip", "pip.x"]),
                       st.tuples(KINDS, KINDS | st.none()), min_size=1))
def test_every_module_of_the_original_lands_in_exactly_one_bucket(
        pairs: dict[str, tuple[OutcomeKind, OutcomeKind | None]]) -> None:
    before = {m: ModuleOutcome(m, b) for m, (b, _) in pairs.items()}
    after = {m: ModuleOutcome(m, a) for m, (_, a) in pairs.items() if a is not None}
    losses = candidate_losses(before, after)
    diff = import_diff("/py", before, after, losses)
    still_ok = [m for m, (b, a) in pairs.items() if b is OK and a is OK]
    buckets = [item.module for item in (*diff.regressions, *diff.accounted, *diff.preexisting_failures)]
    assert sorted(buckets + still_ok) == sorted(pairs)
    assert diff.ok_after == len(still_ok)
    assert set(diff.fixed) <= {change.module for change in diff.preexisting_failures}


def test_excused_modules_are_every_top_level_name_and_root_of_a_removed_distribution() -> None:
    dists = {"setuptools": DistributionInfo("setuptools", "68", top_level=("pkg_resources", "setuptools"),
                                            roots=("_distutils_hack", "setuptools"))}
    assert excused_modules(["Setuptools", "ensurepip"], dists) == frozenset(
        {"Setuptools", "pkg_resources", "setuptools", "_distutils_hack", "ensurepip"})
    assert normalize("Foo.Bar_baz") == "foo-bar-baz"


def dist(name: str, version: str = "1.0", *eps: tuple[str, str, str]) -> DistributionInfo:
    return DistributionInfo(name, version, tuple(sorted(eps)))


def test_metadata_diff_flags_lost_changed_added_distributions_and_entry_points() -> None:
    before = {d.key: d for d in (dist("pip", "24.0"), dist("numpy", "1.26"), dist("PyIceberg", "0.7",
                                 ("console_scripts", "pyiceberg", "pyiceberg.cli.console:run")),
                                 dist("requests", "2.31"))}
    after = {d.key: d for d in (dist("numpy", "2.0"), dist("PyIceberg", "0.7"), dist("newcomer"))}
    diff = diff_metadata("py", before, after, allowed_removals=["pip"])
    assert diff.removed_deliberately == ("pip",)
    assert diff.missing == ("requests",)
    assert [(c.name, c.before, c.after) for c in diff.changed] == [("numpy", "1.26", "2.0")]
    assert diff.added == ("newcomer",)
    assert diff.entry_points_missing == ("PyIceberg: console_scripts:pyiceberg = pyiceberg.cli.console:run",)
    assert not diff.ok
    lines = diff.failures()
    assert "distribution requests is gone" in lines
    assert "distribution numpy changed version 1.26 -> 2.0" in lines
    assert all("pip" not in line for line in lines)


def test_metadata_diff_of_identical_environments_is_ok() -> None:
    same = {d.key: d for d in (dist("numpy"), dist("pandas"))}
    diff = diff_metadata("py", same, dict(same))
    assert diff.ok and diff.failures() == []
