"""``verify()`` end to end in the bwrap sandbox, over two tiny but real Python images (the host's Debian
interpreter and pure-Python stdlib, ``hostile/host_python.py``, plus a small package ``app``): identical images
pass; a hardened image missing a deep submodule fails naming it, unless a stage removed it on purpose (then it
is listed as accounted); a data file read at import that is gone fails as a touched file, although its module
still imports. Without the sandbox or the host's Python these tests skip, and fail under CI."""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest
from verify_support import missing

from harden.errors import VerificationFailed
from harden.image.blobs import BlobStore
from harden.image.model import ImageConfig
from harden.policy import VerifySettings
from harden.verify import api
from harden.verify.accounting import Ledger, Removal
from harden.verify.api import VerifyTarget, raise_for_failures, verify
from harden.verify.result import VerificationReport
from hostile import host_python
from imagefactory import directory, file, make_layer_tar, merged_rootfs

SITE = host_python.SITE
APP = {
    "app/__init__.py": b"",
    "app/reader.py": (b"import os\n"
                      b"try:\n"
                      b"    with open(os.path.join(os.path.dirname(__file__), 'table.dat')) as handle:\n"
                      b"        TABLE = handle.read()\n"
                      b"except OSError:\n"
                      b"    TABLE = ''\n"),
    "app/table.dat": b"1 2 3\n",
    "app/scratch.py": b"import tempfile\nwith tempfile.TemporaryFile() as handle:\n    handle.write(b'x')\n",
    "app/sub/__init__.py": b"",
    "app/sub/deeper/__init__.py": b"",
    "app/sub/deeper/leaf.py": b"VALUE = 1\n",
}
LEAF = f"/{SITE}/app/sub/deeper/leaf.py"
TABLE = f"/{SITE}/app/table.dat"


@pytest.fixture(scope="module")
def python_layer() -> bytes:
    reason = host_python.unavailable()
    if reason is not None:
        missing(reason)
    return host_python.python_layer()


def app_layer(*without: str) -> bytes:
    folders = sorted({str(Path(SITE, name).parent) for name in APP})
    entries = [directory(folder) for folder in folders]
    entries += [file(f"{SITE}/{name}", data) for name, data in APP.items() if name not in without]
    return make_layer_tar(entries)


def target(label: str, layers: list[bytes], blobs: BlobStore) -> VerifyTarget:
    config = ImageConfig.from_bytes(json.dumps(host_python.python_config(layers, User="1000:1000")).encode())
    return VerifyTarget(label, config, merged_rootfs(layers, blobs), blobs)


def run_verify(python_layer: bytes, tmp_path: Path, *without: str, ledger: Ledger | None = None) -> \
        VerificationReport:
    blobs = BlobStore(tmp_path / "blobs")
    original = target("original", [python_layer, app_layer()], blobs)
    hardened = target("hardened", [python_layer, app_layer(*without)], blobs)
    return verify(original, hardened, VerifySettings.of(timeout_seconds=60), ledger=ledger, runner="sandbox",
                  workdir=tmp_path / "work", jobs=2)


def test_identical_images_pass_and_a_need_of_writable_tmp_is_a_warning(python_layer: bytes,
                                                                       tmp_path: Path) -> None:
    report = run_verify(python_layer, tmp_path)
    assert report.failures() == []
    assert (report.runner, report.restricted) == ("sandbox", True)
    (diff,) = report.imports
    assert diff.total > 300 and diff.ok_after == diff.ok_before
    assert diff.regressions == diff.accounted == ()
    assert report.touched == ()
    (need,) = report.writable  # app.scratch imports in a standard container, not as a restricted pod
    assert (need.kind, need.target) == ("import", "app.scratch")
    assert need.remedy == "mount an emptyDir at /tmp (or set TMPDIR to a writable mount)"
    assert "No usable temporary directory" in need.error
    raise_for_failures(report)


def test_a_missing_deep_submodule_fails_naming_it(python_layer: bytes, tmp_path: Path) -> None:
    report = run_verify(python_layer, tmp_path, "app/sub/deeper/leaf.py")
    line = f"app.sub.deeper.leaf: its file {LEAF} is gone from the hardened image"
    assert report.failures() == [line]
    with pytest.raises(VerificationFailed) as raised:
        raise_for_failures(report)
    assert raised.value.exit_code == 1 and raised.value.details == (line,)


def test_the_same_loss_removed_on_purpose_passes_and_is_listed_as_accounted(python_layer: bytes,
                                                                            tmp_path: Path) -> None:
    removal = Removal("remove-tests", "test suite", f"/{SITE}/app/sub/deeper", removes_modules=True)
    report = run_verify(python_layer, tmp_path, "app/sub/deeper/leaf.py", ledger=Ledger.of([removal]))
    assert report.failures() == []
    (diff,) = report.imports
    (accounted,) = diff.accounted
    assert accounted.module == "app.sub.deeper.leaf"
    assert accounted.accounting is not None and accounted.accounting.path == removal.path
    assert diff.counts["accounted"] == 1 and diff.ok_after == diff.ok_before - 1


def test_a_data_file_read_at_import_that_is_gone_fails_though_the_module_imports(python_layer: bytes,
                                                                                 tmp_path: Path) -> None:
    report = run_verify(python_layer, tmp_path, "app/table.dat")
    (diff,) = report.imports
    assert diff.regressions == ()  # app.reader still imports
    (touched,) = report.touched
    assert (touched.path, touched.opened_by, touched.accounted) == (TABLE, ("app.reader",), False)
    assert report.failures() == [
        f"{TABLE}: read in the original by app.reader, gone from the hardened image: no stage removed it"]


class Timed:
    """A real runner, each run's start and end recorded under the image's label."""

    def __init__(self, inner: Any, label: str, spans: list[tuple[str, str, float, float]]) -> None:
        self.inner, self.label, self.spans = inner, label, spans
        self.kind = inner.kind

    def run(self, argv: Sequence[str], **options: Any) -> Any:
        start = time.monotonic()
        try:
            return self.inner.run(argv, **options)
        finally:
            command = next((arg for arg in argv[3:4]), "")  # python -c SOURCE COMMAND ...
            self.spans.append((self.label, command, start, time.monotonic()))

    def stop(self) -> None:
        self.inner.stop()


def test_the_two_images_are_surveyed_one_after_the_other(python_layer: bytes, tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    """Each side's walk peaks with its workers holding the largest trees: side by side the peaks would add up."""
    spans: list[tuple[str, str, float, float]] = []
    real = api._runners

    @contextlib.contextmanager
    def timed(*args: Any) -> Iterator[tuple[str, Any, Any]]:
        with real(*args) as (kind, before, after):
            yield kind, Timed(before, "original", spans), Timed(after, "hardened", spans)

    monkeypatch.setattr(api, "_runners", timed)
    report = run_verify(python_layer, tmp_path)
    assert report.failures() == []
    surveys = {label: (start, end) for label, command, start, end in spans if command == "survey"}
    assert set(surveys) == {"original", "hardened"}
    assert surveys["original"][1] <= surveys["hardened"][0], "the hardened image's survey began before the " \
                                                             "original's ended"
