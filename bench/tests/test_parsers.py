"""The bench's parsers on fixed inputs: the naive recipe's deviations, report.json statistics, the process tree's
memory, the probe containers' events and cgroups, the scaling plan, shells and package managers in a listing."""

from __future__ import annotations

from pathlib import Path

from imagebench.archive_stats import Entry, Listing
from imagebench.containers import Reading, Samples, combined_peak, parse_events, probe_ticks
from imagebench.filelist import PACKAGE_MANAGERS, SHELLS, canonical, programs
from imagebench.naive_recipe import deviations
from imagebench.proc_tree import descendants, parse_ppid, tree_total
from imagebench.run import plan_copies
from imagebench.verification import harden_seconds, report_bytes, stage_savings, verification_stats

NAIVE = Path(__file__).resolve().parents[1] / "naive" / "Dockerfile"

DOCKERFILE = """\
# A header.
#
# Deviations from the seed (printed beside the results):
#  1. Base: Debian, not Alpine. The venv holds
#     glibc wheels.
#  2. Venv path: /opt/venv.
#
# 3. Not an item: the list ended at the empty comment.
FROM scratch
"""


def test_deviations_are_the_numbered_items_joined() -> None:
    assert deviations(DOCKERFILE) == ("Base: Debian, not Alpine. The venv holds glibc wheels.",
                                      "Venv path: /opt/venv.")
    assert deviations("FROM scratch\n") == ()


def test_the_naive_recipe_lists_its_deviations_and_keeps_the_seeds_user() -> None:
    text = NAIVE.read_text()
    found = deviations(text)
    assert len(found) >= 5 and found[0].startswith("Base of the final stage")
    assert "USER appuser" in text.splitlines()  # seed step 10, not a deviation
    assert "groupadd --system appgroup" in text


REPORT = {
    "identity": {"harden_seconds": 10.9},
    "sizes": {"before": {"bytes": 1000}, "after": {"bytes": 400},
              "stages": [{"stage": "remove-bytecode", "seconds": 0.2, "bytes_saved": 300, "files_removed": 7}]},
    "verification": {
        "ok": True, "summary": "PASSED", "failures": [],
        "details": {
            "runner": "sandbox", "restricted": True, "interpreters": ["/opt/venv/bin/python3"],
            "imports": [{"interpreter": "/opt/venv/bin/python3", "stdlib_deep": True,
                         "counts": {"total": 1519, "ok_before": 1444, "ok_after": 772, "regressions": 1,
                                    "accounted": 672, "preexisting_failures": 75, "skipped": 16}}],
            "metadata": [{"interpreter": "/opt/venv/bin/python3", "distributions_before": 3,
                          "distributions_after": 0, "missing": [], "removed_deliberately": ["pip", "a", "b"]}],
            "smoke": [{"passed": True}, {"passed": False}],
            "assertions": [{"code": "HV-NO-SHELL", "passed": True}, {"code": "HV-USER", "passed": False,
                                                                      "detail": "runs as root"}],
            "touched": [{"accounted": True}, {"accounted": False, "failure": "x: gone"}],
            "linkage": {"objects": 365, "broken": [], "preexisting": ["a.so"]},
            "startup": {"modules": ["pandas"], "runs": 5, "median_before_seconds": 0.4,
                        "median_after_seconds": 0.5},
        },
    },
}


def test_verification_stats_from_report_json() -> None:
    v = verification_stats(REPORT)
    assert v is not None and v.ok and v.runner == "sandbox"
    (imports,) = v.imports
    assert (imports.total, imports.regressions, imports.accounted, imports.preexisting_failures, imports.fixed) == (
        1519, 1, 672, 75, 0)
    assert v.metadata[0].removed_deliberately == 3 and v.metadata[0].distributions_after == 0
    assert (v.smoke_passed, v.smoke_total, v.assertions_passed, v.assertions_total) == (1, 2, 1, 2)
    assert v.assertions_failed == ("HV-USER: runs as root",)
    assert (v.touched_total, v.touched_accounted, v.touched_failing) == (2, 1, ("x: gone",))
    assert (v.linkage_objects, v.linkage_preexisting) == (365, 1)
    assert v.startup is not None and v.startup.after_seconds == 0.5
    assert verification_stats({"verification": None}) is None
    assert report_bytes(REPORT) == (1000, 400) and report_bytes({}) == (None, None)
    assert harden_seconds(REPORT) == 10.9 and harden_seconds({}) is None
    assert stage_savings(REPORT)[0].files_removed == 7


def test_tree_memory_sums_the_root_and_every_descendant() -> None:
    assert parse_ppid("42 (a (b) c) S 7 42 42 0") == 7
    children = {1: [10, 11], 10: [20], 20: [30], 99: [100]}
    assert sorted(descendants(1, children)) == [1, 10, 11, 20, 30]
    rss = {1: 100, 10: 50, 11: 5, 20: 300, 30: 1, 99: 1000, 100: 1000}
    assert tree_total(1, children, rss.__getitem__) == (456, 5)  # 99 and 100 are not in the tree
    assert tree_total(20, children, rss.__getitem__) == (301, 2)


def test_probe_containers_join_the_tree_at_the_same_sample() -> None:
    events = ['{"ID": "abc123def4567890", "Status": "create"}', "not json", '{"Actor": {"ID": "fff000fff000"}}']
    probes = parse_events(events)
    assert probes == {"abc123def4567890", "fff000fff000"}
    samples = Samples("v2", [[("abc123def456", Reading(900, None, 200))],
                             [("abc123def456", Reading(900, None, None)), ("0123456789ab", Reading(5000, None, 1))],
                             []])
    assert probe_ticks(samples, probes) == [200, 900, 0]  # anon where known, else usage; others left out
    assert combined_peak([100, 50, 1200], [200, 900, 0]) == 1200
    assert combined_peak([100, 500, 300], [200, 900, 0]) == 1400
    assert combined_peak([100, 500], []) == 500 and combined_peak([], [5]) == 0


def test_scaling_plan_reaches_the_factor() -> None:
    assert plan_copies(1000, 400, {"a": 100, "b": 100, "c": 300}, 3.0) == (5, [])
    copies, partial = plan_copies(1000, 600, {"a": 100, "b": 100, "c": 300}, 3.0)
    assert (copies, partial) == (3, ["a", "b"])  # 2000 wanted: 3 x 600 plus 200 of entries
    assert plan_copies(1000, 0, {}, 3.0) == (0, [])


def test_shells_and_package_managers_through_merged_usr() -> None:
    listing = Listing({"bin": Entry("symlink", 0, "usr/bin"), "usr/bin/bash": Entry("file", 10),
                       "usr/bin/sh": Entry("symlink", 0, "dash"), "usr/bin/dpkg": Entry("file", 5),
                       "usr/bin/python3": Entry("file", 5), "opt/venv/bin/pip": Entry("file", 1)})
    real = canonical(listing)
    assert programs(real, SHELLS) == ("/usr/bin/bash", "/usr/bin/sh")
    assert programs(real, PACKAGE_MANAGERS) == ("/usr/bin/dpkg",)
    assert programs(canonical(Listing({"usr/bin/python3": Entry("file", 5)})), SHELLS) == ()
