"""What the walk (``walk.py survey``) covers: every module and submodule of every top-level tree on sys.path,
however the tree is made (deep packages, namespace packages, extension modules, packages extending
``__path__``, broken packages), and the stdlib; and what it never imports (``__main__``, the stdlib's tests and
the modules that act when imported), counted."""

from __future__ import annotations

import _bisect
import shutil
from pathlib import Path
from typing import Any

from verify_support import ScriptCall, config, modules, of_type, write_tree


def survey(run_script: ScriptCall, python: str, tree: Path | None, **values: Any) -> str:
    values.setdefault("timeout", 60)
    done = run_script("walk", "survey", config(interpreters=[python], **values), path=tree)
    assert done.returncode == 0, done.stderr
    assert of_type(done.stdout, "done"), "the survey did not finish"
    return done.stdout


def kinds(stdout: str) -> dict[str, str]:
    return {name: line["kind"] for name, line in modules(stdout).items()}


def test_every_submodule_is_imported_down_to_a_subpackage_three_levels_deep(
        run_script: ScriptCall, python: str, tmp_path: Path) -> None:
    tree = write_tree(tmp_path / "site", {
        "deep/__init__.py": "",
        "deep/one.py": "",
        "deep/a/__init__.py": "",
        "deep/a/b/__init__.py": "",
        "deep/a/b/c/__init__.py": "",
        "deep/a/b/c/leaf.py": "VALUE = 1\n",
        "single.py": "",
    })
    walked = kinds(survey(run_script, python, tree))
    expected = ["deep", "deep.one", "deep.a", "deep.a.b", "deep.a.b.c", "deep.a.b.c.leaf", "single"]
    assert {name: walked.get(name) for name in expected} == dict.fromkeys(expected, "ok")


def test_a_namespace_package_is_walked_and_a_folder_without_python_is_not_a_module(
        run_script: ScriptCall, python: str, tmp_path: Path) -> None:
    tree = write_tree(tmp_path / "site", {
        "space/inner.py": "",
        "space/nested/more.py": "",
        "space/nested/notes.txt": "",
        "notcode/readme.txt": "words\n",
        "notcode/sub/data.json": "{}\n",
    })
    stdout = survey(run_script, python, tree)
    walked = kinds(stdout)
    assert {name: walked.get(name) for name in ("space", "space.inner", "space.nested", "space.nested.more")} == \
        dict.fromkeys(("space", "space.inner", "space.nested", "space.nested.more"), "ok")
    assert modules(stdout)["space"]["origin"] == str(tree / "space")
    assert not any(name.split(".")[0] == "notcode" for name in walked)


def test_extension_modules_are_walked_in_the_stdlib_and_in_a_package(
        run_script: ScriptCall, python: str, tmp_path: Path) -> None:
    built = Path(_bisect.__file__)
    tree = write_tree(tmp_path / "site", {"fast/__init__.py": ""})
    shutil.copyfile(built, tree / "fast" / built.name)  # same init name: importable as fast._bisect
    walked = modules(survey(run_script, python, tree))
    for name in ("_decimal", "_ctypes"):
        assert walked[name]["kind"] == "ok"
        assert walked[name]["stdlib"] is True
        assert "lib-dynload" in walked[name]["origin"]
    assert walked["fast._bisect"]["kind"] == "ok"
    assert walked["fast._bisect"]["stdlib"] is False
    assert walked["fast._bisect"]["origin"] == str(tree / "fast" / built.name)


def test_the_children_of_a_package_that_extends_its_path_at_import_are_walked(
        run_script: ScriptCall, python: str, tmp_path: Path) -> None:
    other = write_tree(tmp_path / "elsewhere", {"plugin.py": "", "more/__init__.py": "", "more/deeper.py": ""})
    tree = write_tree(tmp_path / "site", {
        "extends/__init__.py": f"__path__.append({str(other)!r})\n",
        "extends/own.py": "",
    })
    walked = modules(survey(run_script, python, tree))
    for name in ("extends", "extends.own", "extends.plugin", "extends.more", "extends.more.deeper"):
        assert walked[name]["kind"] == "ok", name
    assert walked["extends.plugin"]["origin"] == str(other / "plugin.py")


def test_the_children_of_a_package_whose_init_raises_get_their_own_verdicts(
        run_script: ScriptCall, python: str, tmp_path: Path) -> None:
    tree = write_tree(tmp_path / "site", {
        "broken/__init__.py": "raise RuntimeError('the package is broken')\n",
        "broken/child.py": "",
        "broken/sub/__init__.py": "",
        "zafter/__init__.py": "",
    })
    walked = modules(survey(run_script, python, tree))
    assert walked["broken"]["error"] == "RuntimeError: the package is broken"
    assert walked["broken.child"]["kind"] == "error"  # importing a child imports its parent first
    assert walked["broken.sub"]["error"] == "RuntimeError: the package is broken"
    assert walked["zafter"]["kind"] == "ok"


def test_main_modules_are_counted_and_never_imported(run_script: ScriptCall, python: str, tmp_path: Path,
                                                     home: Path) -> None:
    marker = home / "main-ran"
    tree = write_tree(tmp_path / "site", {
        "app/__init__.py": "",
        "app/__main__.py": f"open({str(marker)!r}, 'w').close()\n",
        "app/cli/__init__.py": "",
        "app/cli/__main__.py": f"open({str(marker)!r}, 'w').close()\n",
    })
    empty = tmp_path / "empty"
    empty.mkdir()
    main_rule = "__main__ module: importing it runs the program"
    (baseline,) = of_type(survey(run_script, python, empty), "env")
    stdout = survey(run_script, python, tree)
    (env,) = of_type(stdout, "env")
    walked = modules(stdout)
    assert walked["app"]["kind"] == walked["app.cli"]["kind"] == "ok"
    assert not [name for name in walked if name.endswith("__main__")]
    assert env["skipped"][main_rule] == baseline["skipped"][main_rule] + 2
    assert not marker.exists()


def test_stdlib_tests_and_modules_that_act_when_imported_are_skipped_but_a_package_tests_are_walked(
        run_script: ScriptCall, python: str, tmp_path: Path) -> None:
    tree = write_tree(tmp_path / "site", {"mine/__init__.py": "", "mine/tests/__init__.py": "",
                                          "mine/tests/test_it.py": ""})
    stdout = survey(run_script, python, tree)
    walked = modules(stdout)
    (env,) = of_type(stdout, "env")
    assert "this" not in walked and "antigravity" not in walked
    assert not [name for name in walked if name.split(".")[0] in ("test", "tests")]
    assert not [name for name in walked if walked[name]["stdlib"] and "tests" in name.split(".")]
    assert walked["idlelib"]["kind"] == "ok" and "idlelib.idle" not in walked  # GUI programs: package only
    assert env["skipped"]["stdlib module that acts when imported"] >= 2
    assert env["skipped"]["stdlib GUI program module"] >= 1
    assert {walked[name]["kind"] for name in ("mine.tests", "mine.tests.test_it")} == {"ok"}


def test_the_stdlib_is_walked_deep_with_the_first_interpreter(run_script: ScriptCall, python: str) -> None:
    stdout = survey(run_script, python, None)
    walked = modules(stdout)
    (env,) = of_type(stdout, "env")
    assert env["stdlib_deep"] is True
    for name in ("json", "json.decoder", "email.mime.text", "encodings.cp437", "sys"):
        assert walked[name]["kind"] == "ok" and walked[name]["stdlib"] is True, name
    assert len([name for name in walked if walked[name]["stdlib"]]) > 500
