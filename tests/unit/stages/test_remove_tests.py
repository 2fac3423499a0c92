from __future__ import annotations

from stage_helpers import FakeImage, gone, removed, skipped

from harden.stages.remove_tests import RemoveTests

SP = "usr/local/lib/python3.11/site-packages"
STDLIB = "usr/local/lib/python3.11"


def scientific_stack(image: FakeImage) -> None:
    image.python()
    image.file(f"{SP}/numpy/__init__.py", "from numpy import testing\nfrom . import core\n")
    image.file(f"{SP}/numpy/testing/__init__.py", "from numpy.testing._private.utils import *\n")
    image.file(f"{SP}/numpy/testing/_private/utils.py", "import numpy\n")
    image.file(f"{SP}/numpy/core/__init__.py", "")
    image.file(f"{SP}/numpy/core/tests/test_multiarray.py", "import numpy\nimport pytest\n")
    image.file(f"{SP}/numpy/conftest.py", "import pytest\n")
    image.file(f"{SP}/pandas/__init__.py", "from pandas.util._tester import test\n")
    image.file(f"{SP}/pandas/testing.py", "from pandas._testing import assert_frame_equal\n")
    image.file(f"{SP}/pandas/_testing/__init__.py", "import numpy.testing\n")
    image.file(f"{SP}/pandas/tests/frame/test_api.py", "import pandas._testing as tm\n")
    image.file(f"{SP}/sklearn/utils/_testing.py", "from numpy.testing import assert_allclose\n")


def test_runtime_testing_modules_stay_and_test_suites_go(image: FakeImage) -> None:
    scientific_stack(image)
    plan = RemoveTests().plan(image.ctx(RemoveTests))
    assert removed(plan) == {
        f"{SP}/numpy/core/tests",
        f"{SP}/numpy/conftest.py",
        f"{SP}/pandas/tests",
    }
    after = gone(image.rootfs(), plan)
    for kept in (
        "numpy/testing/__init__.py",
        "pandas/_testing/__init__.py",
        "pandas/testing.py",
        "sklearn/utils/_testing.py",
    ):
        assert f"{SP}/{kept}" in {str(e.path) for e in after}
    assert all(c.category == "tests" for c in plan.changes)
    assert all(c.removes_modules for c in plan.changes), "verification accounts test suites as removed on purpose"
    reasons = {str(c.path): c.reason for c in plan.changes}
    assert reasons[f"{SP}/pandas/tests"] == "test suite pandas/tests: nothing outside the test suites imports it"
    assert reasons[f"{SP}/numpy/conftest.py"] == "pytest configuration numpy/conftest.py: only pytest reads it"


def test_a_tests_package_imported_by_runtime_code_is_kept(image: FakeImage) -> None:
    image.python()
    image.file(f"{SP}/pkg/__init__.py", "")
    image.file(f"{SP}/pkg/core.py", "from pkg.tests.helpers import make_data\n")
    image.file(f"{SP}/pkg/tests/__init__.py", "")
    image.file(f"{SP}/pkg/tests/helpers.py", "def make_data(): ...\n")
    image.file(f"{SP}/pkg/tests/test_core.py", "from pkg.tests.helpers import make_data\n")
    image.file(f"{SP}/plain/__init__.py", "")
    image.file(f"{SP}/plain/tests/__init__.py", "")
    image.file(f"{SP}/plain/tests/test_plain.py", "import plain\n")
    plan = RemoveTests().plan(image.ctx(RemoveTests))
    assert removed(plan) == {f"{SP}/plain/tests", f"{SP}/pkg/tests/test_core.py"}
    assert skipped(plan)[f"{SP}/pkg/tests"] == "kept pkg/tests: imported by pkg/core.py"


def test_every_import_form_counts_as_evidence(image: FakeImage) -> None:
    image.python()
    image.file(f"{SP}/rel/__init__.py", "from .tests import fixtures\n")
    image.file(f"{SP}/rel/tests/fixtures.py", "")
    image.file(f"{SP}/frm/__init__.py", "from frm import tests as _t\n")
    image.file(f"{SP}/frm/tests/__init__.py", "")
    image.file(f"{SP}/dyn/__init__.py", "import importlib\nm = importlib.import_module('dyn.tests.data')\n")
    image.file(f"{SP}/dyn/tests/data.py", "")
    image.file(f"{SP}/old/__init__.py", "print 'python 2'\nimport old.tests.compat\n")
    image.file(f"{SP}/old/tests/compat.py", "")
    image.file(f"{SP}/plug/__init__.py", "")
    image.file(f"{SP}/plug/tests/cli.py", "def main(): ...\n")
    image.file(f"{SP}/plug-1.0.dist-info/METADATA", "Name: plug\nVersion: 1.0\n")
    image.file(f"{SP}/plug-1.0.dist-info/entry_points.txt", "[console_scripts]\nplug = plug.tests.cli:main\n")
    image.file("app/main.py", "import gone.tests\nfrom app_helpers import tests\n")
    image.file(f"{SP}/gone/tests/__init__.py", "")
    image.file(f"{SP}/unused/tests/__init__.py", "")
    plan = RemoveTests().plan(image.ctx(RemoveTests))
    assert removed(plan) == {f"{SP}/unused/tests"}
    reasons = skipped(plan)
    assert reasons[f"{SP}/rel/tests"] == "kept rel/tests: imported by rel/__init__.py"
    assert reasons[f"{SP}/frm/tests"] == "kept frm/tests: imported by frm/__init__.py"
    assert reasons[f"{SP}/dyn/tests"] == "kept dyn/tests: imported by dyn/__init__.py"
    assert reasons[f"{SP}/old/tests"] == "kept old/tests: imported by old/__init__.py"
    assert reasons[f"{SP}/plug/tests"] == "kept plug/tests: imported by plug-1.0.dist-info/entry_points.txt"
    assert reasons[f"{SP}/gone/tests"] == "kept gone/tests: imported by app/main.py"


def test_evidence_from_test_suites_only_does_not_keep_them(image: FakeImage) -> None:
    """a/tests imported only by b/tests: both go. c/tests kept by c/core.py keeps d/tests it imports."""
    image.python()
    image.file(f"{SP}/a/tests/util.py", "")
    image.file(f"{SP}/b/tests/test_b.py", "import a.tests.util\n")
    image.file(f"{SP}/c/core.py", "import c.tests.helpers\n")
    image.file(f"{SP}/c/tests/helpers.py", "import d.tests.util\n")
    image.file(f"{SP}/d/tests/util.py", "")
    plan = RemoveTests().plan(image.ctx(RemoveTests))
    assert removed(plan) == {f"{SP}/a/tests", f"{SP}/b/tests"}
    assert skipped(plan)[f"{SP}/d/tests"] == "kept d/tests: imported by c/tests/helpers.py"


def test_stdlib_test_suite_goes_but_unittest_and_doctest_stay(image: FakeImage) -> None:
    image.python()
    image.file(f"{STDLIB}/test/__init__.py", "")
    image.file(f"{STDLIB}/test/support/__init__.py", "import unittest\n")
    image.file(f"{STDLIB}/test/test_os.py", "from test import support\n")
    image.file(f"{STDLIB}/unittest/__init__.py", "from .case import TestCase\n")
    image.file(f"{STDLIB}/unittest/case.py", "")
    image.file(f"{STDLIB}/unittest/test/test_case.py", "import unittest\n")
    image.file(f"{STDLIB}/doctest.py", "import unittest\n")
    image.file(f"{STDLIB}/idlelib/idle_test/test_x.py", "from idlelib import run\n")
    image.file(f"{STDLIB}/ctypes/test/__init__.py", "")
    plan = RemoveTests().plan(image.ctx(RemoveTests))
    assert removed(plan) == {
        f"{STDLIB}/test",
        f"{STDLIB}/unittest/test",
        f"{STDLIB}/idlelib/idle_test",
        f"{STDLIB}/ctypes/test",
    }
    reasons = {str(c.path): c.reason for c in plan.changes}
    assert reasons[f"{STDLIB}/test"].startswith("stdlib test suite test:")


def test_policy_keep_globs(image: FakeImage) -> None:
    image.python()
    image.file(f"{SP}/django/test/client.py", "")
    image.file(f"{SP}/mine/tests/__init__.py", "")
    plan = RemoveTests().plan(image.ctx(RemoveTests, {"keep": ["**/django/test/**", f"{SP}/mine/**"]}))
    assert removed(plan) == set()
    assert skipped(plan)[f"{SP}/mine/tests"] == f"kept mine/tests: policy keep glob '{SP}/mine/**'"
    assert f"{SP}/django/test" in skipped(plan)


def test_sources_headers_stubs_and_the_stdlib_build_dir_by_default(image: FakeImage) -> None:
    image.python()
    image.file(f"{SP}/numpy/_core/include/numpy/ndarrayobject.h", "/* header */")
    image.file(f"{SP}/fast/_speedups.c", "int x;")
    image.file(f"{SP}/fast/_speedups.pyx", "cdef int x")
    image.file(f"{SP}/fast/__init__.pyi", "x: int")
    image.file(f"{SP}/fast/py.typed", "")
    image.file(f"{SP}/torch/include/ATen/ATen.h", "/* jit needs me */")
    image.file(f"{STDLIB}/config-3.11-x86_64-linux-gnu/Makefile", "CC=gcc\n")
    image.file(f"{STDLIB}/config-3.11-x86_64-linux-gnu/libpython3.11.a", "!<arch>\n")
    assert removed(RemoveTests().plan(image.ctx(RemoveTests, {"remove_sources": False}))) == set()
    plan = RemoveTests().plan(image.ctx(RemoveTests))
    assert removed(plan) == {
        f"{SP}/numpy/_core/include",
        f"{SP}/fast/_speedups.c",
        f"{SP}/fast/_speedups.pyx",
        f"{SP}/fast/__init__.pyi",
        f"{SP}/fast/py.typed",
        f"{STDLIB}/config-3.11-x86_64-linux-gnu",
    }
    reasons = {str(c.path): c.reason for c in plan.changes}
    assert reasons[f"{SP}/fast/__init__.pyi"].startswith("type-checking only: stub or marker fast/__init__.pyi")
    assert "static libpython" in reasons[f"{STDLIB}/config-3.11-x86_64-linux-gnu"]


def test_without_python_nothing_happens(image: FakeImage) -> None:
    image.file("srv/tests/test_x.py", "")
    plan = RemoveTests().plan(image.ctx(RemoveTests))
    assert plan.changes == ()
    assert "no Python environment" in plan.notes[0]


def test_imports_that_only_run_with_the_tests_are_not_evidence(image: FakeImage) -> None:
    image.python()
    image.file(
        f"{STDLIB}/multiprocessing/util.py",
        "def _cleanup_tests():\n    from test import support\n    support.gc_collect()\n",
    )
    image.file(
        f"{SP}/mpm/__init__.py",
        "class TestHelpers:\n    from mpm.tests import base\n\n"
        "if __name__ == '__main__':\n    import mpm.tests.main\nelse:\n    from mpm import core\n",
    )
    image.file(f"{SP}/mpm/tests/base.py", "")
    image.file(f"{SP}/mpm/tests/main.py", "")
    image.file(f"{STDLIB}/idlelib/colorizer.py", "from idlelib.idle_test.test_colorizer import source\n")
    image.file(f"{STDLIB}/idlelib/idle_test/test_colorizer.py", "source = ''\n")
    image.file(f"{STDLIB}/test/support/__init__.py", "")
    image.file("app/run.py", "if __name__ == '__main__':\n    from rt.tests import server\n")
    image.file(f"{SP}/rt/tests/server.py", "")
    plan = RemoveTests().plan(image.ctx(RemoveTests))
    assert removed(plan) == {f"{STDLIB}/test", f"{SP}/mpm/tests", f"{STDLIB}/idlelib/idle_test"}
    assert skipped(plan)[f"{SP}/rt/tests"] == "kept rt/tests: imported by app/run.py"
    strict = RemoveTests().plan(
        image.ctx(RemoveTests, {"ignore_main_blocks": False, "test_runner_functions": [], "ignore_importers": []})
    )
    assert removed(strict) == set()
