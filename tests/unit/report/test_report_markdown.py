"""report.md of a small fixed image matches the golden file (time and version normalized).

Regenerate after an intended change with ``HARDEN_UPDATE_GOLDEN=1 pytest tests/unit/report`` and review the
diff of tests/golden/ like any other code change.
"""

from __future__ import annotations

import os
from pathlib import Path

from report_support import FIXED_TIME, GOLDEN, SITE, StandInPolicy, build_image, harden, small_image_layers

from harden import __version__
from harden.image.blobs import BlobStore
from harden.report.markdown import render_markdown
from harden.report.write import write_review_reports, write_run_reports
from harden.verify.result import (
    Accounting,
    Assertion,
    ImportDiff,
    MetadataDiff,
    ModuleLoss,
    ModuleOutcome,
    OutcomeKind,
    SmokeResult,
    SmokeRun,
    StartupCost,
    TouchedFile,
    VerificationReport,
    WritableNeed,
)

UPDATE = os.environ.get("HARDEN_UPDATE_GOLDEN") == "1"


PY = "/usr/local/bin/python3"


def normalize(text: str) -> str:
    return text.replace(f"| harden | {__version__} |", "| harden | X.Y.Z |")


def check_golden(name: str, text: str) -> None:
    path = GOLDEN / name
    if UPDATE:
        path.write_text(normalize(text))
    assert normalize(text) == path.read_text(), f"{name} differs; see the module docstring to regenerate"


def verification() -> VerificationReport:
    """A failed verification with one of each: a lost module, a removal on purpose, a file read in the
    original that is gone, a need of a writable path as a restricted pod."""
    broken = ModuleLoss("pandas.io.clipboard",
                        ModuleOutcome("pandas.io.clipboard", OutcomeKind.OK,
                                      origin=f"/{SITE}/pandas/io/clipboard/__init__.py"),
                        ModuleOutcome("pandas.io.clipboard", OutcomeKind.ERROR, "ModuleNotFoundError: x",
                                      isolated=True))
    conftest = f"/{SITE}/pandas/tests/conftest.py"
    tests_gone = ModuleLoss("pandas.tests.conftest", ModuleOutcome("pandas.tests.conftest", OutcomeKind.OK,
                                                                   origin=conftest),
                            ModuleOutcome("pandas.tests.conftest", OutcomeKind.NOT_RUN, f"its file {conftest} is gone"),
                            accounting=Accounting("remove-tests", "test suite", f"/{SITE}/pandas/tests"))
    return VerificationReport(
        original="demo:1", hardened="demo:hardened", runner="sandbox", interpreters=(PY,),
        imports=(ImportDiff("/usr/local/bin/python3", 40, 40, 38, (broken,), (tests_gone,), ()),),
        metadata=(MetadataDiff("/usr/local/bin/python3", 4, 3, removed_deliberately=("pip",)),),
        smoke=(SmokeResult("pandas groupby", PY, SmokeRun(True, ""), SmokeRun(True, "")),),
        assertions=(Assertion("HV-NO-SHELL", "shell=True fails", True),),
        startup=StartupCost(("pandas", "numpy"), 5, 0.25, 0.2),
        touched=(TouchedFile(f"/{SITE}/pandas/io/formats/templates/html.tpl", ("pandas.io.formats.style",),
                             "remove-docs", "documentation"),),
        writable=(WritableNeed("import", "matplotlib.pyplot", PY, ("/home/nonroot/.config/matplotlib",),
                               "OSError: [Errno 30] Read-only file system: '/home/nonroot/.config/matplotlib'",
                               "set MPLCONFIGDIR to a writable mounted directory (an emptyDir)"),),
        restricted=True,
    )


def test_golden_markdown_of_a_hardening_run(tmp_path: Path) -> None:
    blobs = BlobStore(tmp_path / "blobs")
    image, rootfs = build_image(small_image_layers(), blobs)
    result = harden(rootfs, image.config, blobs)
    written = write_run_reports(
        tmp_path / "reports", source="demo:1", source_image=image, original=rootfs, result=result,
        policy=StandInPolicy(), verification=verification(), dropped=(), written=["demo:hardened"],
        harden_seconds=2.5, dry_run=False, blobs=blobs, generated_at=FIXED_TIME,
        output_digest="sha256:" + "cd" * 32, removed_on_purpose=("pip", "setuptools", "wheel"),
    )
    markdown = (tmp_path / "reports" / "report.md").read_text()
    assert markdown == render_markdown(written.report)
    check_golden("report-small.md", markdown)


def test_golden_markdown_of_a_review(tmp_path: Path) -> None:
    blobs = BlobStore(tmp_path / "blobs")
    image, rootfs = build_image(small_image_layers(), blobs, reference="demo:latest")
    write_review_reports(tmp_path / "out", source="demo:latest", source_image=image, rootfs=rootfs,
                         blobs=blobs, generated_at=FIXED_TIME)
    check_golden("review-small.md", (tmp_path / "out" / "report.md").read_text())


def test_headline_comes_first_and_says_what_matters(tmp_path: Path) -> None:
    text = (GOLDEN / "report-small.md").read_text()
    head = text.split("## ", 1)[0]
    assert "**Size:**" in head and "→" in head
    assert "**Verification:**" in head and "FAILED" in head.split("**Verification:**")[1].split("\n")[0]
    assert "**Findings:**" in head
    assert text.index("## Size by stage") < text.index("## Findings") < text.index("## ELF hardening")
