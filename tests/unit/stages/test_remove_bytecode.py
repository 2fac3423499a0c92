from __future__ import annotations

import pytest
from stage_helpers import DEFAULT_PATH, FakeImage, config_set, removed, skipped

from harden.errors import PolicyError
from harden.plan import Remove
from harden.stages.remove_bytecode import RemoveBytecode

SP = "usr/local/lib/python3.11/site-packages"


def test_caches_and_legacy_pyc_go_sourceless_pyc_stays(image: FakeImage) -> None:
    image.file(f"{SP}/pkg/__init__.py", "")
    image.file(f"{SP}/pkg/__pycache__/__init__.cpython-311.pyc", b"\xa7\r\r\n")
    image.file(f"{SP}/pkg/__pycache__/gone.cpython-311.opt-1.pyc", b"\xa7\r\r\n")
    image.file(f"{SP}/pkg/legacy.py", "")
    image.file(f"{SP}/pkg/legacy.pyc", b"\x03\xf3\r\n")
    image.file(f"{SP}/closed/__init__.pyc", b"\xa7\r\r\n")
    image.file(f"{SP}/closed/secret.pyo", b"\xa7\r\r\n")
    image.file("app/__pycache__/main.cpython-311.pyc", b"\xa7\r\r\n")
    image.file("app/main.py", "print('hi')\n")
    plan = RemoveBytecode().plan(image.ctx(RemoveBytecode))
    assert removed(plan) == {f"{SP}/pkg/__pycache__", f"{SP}/pkg/legacy.pyc", "app/__pycache__"}
    reasons = skipped(plan)
    assert set(reasons) == {f"{SP}/closed/__init__.pyc", f"{SP}/closed/secret.pyo"}
    assert "sourceless module: secret.pyo has no secret.py beside it" in reasons[f"{SP}/closed/secret.pyo"]
    assert {c.category for c in plan.changes if isinstance(c, Remove)} == {"bytecode"}


def test_dont_write_bytecode_is_added_and_other_env_entries_kept(image: FakeImage) -> None:
    image.config["Env"] = [DEFAULT_PATH, "LANG=C.UTF-8", "PYTHONDONTWRITEBYTECODE=0"]
    plan = RemoveBytecode().plan(image.ctx(RemoveBytecode))
    assert config_set(plan)["Env"] == [DEFAULT_PATH, "LANG=C.UTF-8", "PYTHONDONTWRITEBYTECODE=1"]
    image.config["Env"] = [DEFAULT_PATH, "PYTHONDONTWRITEBYTECODE=1"]
    assert "Env" not in config_set(RemoveBytecode().plan(image.ctx(RemoveBytecode)))


def test_keep_mode_plans_nothing_but_a_note(image: FakeImage) -> None:
    image.file("a/__pycache__/x.cpython-311.pyc", b"x")
    plan = RemoveBytecode().plan(image.ctx(RemoveBytecode, {"mode": "keep"}))
    assert plan.changes == ()
    assert "mode = keep" in plan.notes[0]


def test_unknown_mode_is_a_policy_error(image: FakeImage) -> None:
    with pytest.raises(PolicyError, match=r"remove-bytecode\.settings\.mode"):
        RemoveBytecode().plan(image.ctx(RemoveBytecode, {"mode": "sometimes"}))


def test_the_fast_start_policy_keeps_startup_bytecode_only(image: FakeImage) -> None:
    from harden.policy import load_policy

    policy = load_policy("spark-k8s-python-deps-fast-start")
    assert policy.chain == ("default", "spark-k8s-python-deps", "spark-k8s-python-deps-fast-start")
    venv = "opt/venv/lib/python3.11/site-packages"
    for module in ("pandas/core/frame", "pyarrow/parquet/core", "sqlalchemy/engine/base", "sklearn/base"):
        image.file(f"{venv}/{module}.py", "")
        package, _, name = module.rpartition("/")
        image.file(f"{venv}/{package}/__pycache__/{name}.cpython-311.pyc", b"\xa7\r\r\n")
    image.file("usr/lib/python3.11/json/__init__.py", "")
    image.file("usr/lib/python3.11/json/__pycache__/__init__.cpython-311.pyc", b"\xa7\r\r\n")
    plan = RemoveBytecode().plan(image.ctx(RemoveBytecode, policy.stages["remove-bytecode"]))
    assert removed(plan) == {f"{venv}/sqlalchemy/engine/__pycache__", f"{venv}/sklearn/__pycache__"}
