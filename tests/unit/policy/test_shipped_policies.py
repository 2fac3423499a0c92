"""The policies shipped in the top-level policies/ folder."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from harden._resources import data_dir
from harden.policy import list_policies, load_policy, load_stage_schemas

STAGES = (
    "strip-debug",
    "remove-jvm-payload",
    "remove-bytecode",
    "remove-docs",
    "remove-tests",
    "drop-shells",
    "add-user",
    "dedupe",
    "remove-installers",
    "prune-package-db",
    "remove-unreachable",
)
SPARK_IMPORTS = (
    "pandas",
    "numpy",
    "pyarrow",
    "pyarrow.parquet",
    "pyspark",
    "pyiceberg",
    "pyiceberg.catalog",
    "pyiceberg.io.pyarrow",
    "scipy",
    "sklearn",
    "sqlalchemy",
    "psycopg2",
    "requests",
    "fsspec",
)

EXTRA_KEYS = {"remove-docs": ("remove_code",), "remove-jvm-payload": ("payload",)}
"""Stage keys beyond enabled/remove/keep that a shipped policy sets."""


@pytest.fixture
def minimal_stages(tmp_path: Path) -> Path:
    """Every stage with the keys the shipped policies may touch, for testing them before stage files exist."""
    folder = tmp_path / "stages"
    folder.mkdir()
    for stage in STAGES:
        extra = "".join(f"{key} = []\n" for key in EXTRA_KEYS.get(stage, ()))
        (folder / f"{stage}.toml").write_text(
            f'schema_version = 1\nstage = "{stage}"\n[settings]\nenabled = true\nremove = []\nkeep = []\n{extra}',
            encoding="utf-8",
        )
    return folder


def test_both_are_listed() -> None:
    assert {"default", "spark-k8s-python-deps"} <= set(list_policies())


def test_default(minimal_stages: Path) -> None:
    policy = load_policy("default", stages_dir=minimal_stages)
    assert policy.chain == ("default",)
    off = {"remove-jvm-payload"}
    assert not any(policy.stage_enabled(stage) for stage in off)
    assert all(policy.stage_enabled(stage) for stage in STAGES if stage not in off)
    assert policy.verify.enabled and policy.verify.discover
    assert policy.verify.imports == () and policy.verify.smoke == ()
    assert policy.output.squash and policy.output.tag_suffix == "hardened"


def test_spark(minimal_stages: Path) -> None:
    policy = load_policy("spark-k8s-python-deps", stages_dir=minimal_stages)
    assert policy.chain == ("default", "spark-k8s-python-deps")
    assert policy.stage_enabled("remove-installers")
    assert policy.stage_enabled("remove-jvm-payload")
    assert tuple(policy.stages["remove-docs"]["remove_code"]) == ("**/pyspark/examples",)
    assert "**/site-packages/pyspark/data/**" in policy.stages["remove-docs"]["remove"]
    assert "**/pyspark/python/lib/*.zip" in policy.stages["remove-jvm-payload"]["payload"]
    assert policy.verify.imports == SPARK_IMPORTS
    assert {"pyiceberg.io.pyarrow", "pyiceberg.catalog.sql", "pyarrow.parquet", "pyarrow.dataset"} <= set(
        policy.verify.plugins
    )
    assert policy.verify.startup_modules == ("pandas", "numpy", "pyarrow")
    assert policy.verify.startup_runs == 5
    assert policy.verify.discover
    smoke = {test.name: test for test in policy.verify.smoke}
    assert {
        "parquet round trip",
        "pandas groupby",
        "numpy and scipy linear algebra",
        "scikit-learn fit",
        "sqlalchemy on sqlite",
        "pyiceberg sql catalog",
    } <= set(smoke)
    assert "SqlCatalog" in smoke["pyiceberg sql catalog"].code
    assert "**/pandas/_testing/**" in policy.stages["remove-tests"]["keep"]


def test_default_header_documents_every_key() -> None:
    """The comment header of default.toml is the format's documentation: it names every section key."""
    text = (data_dir("policies") / "default.toml").read_text(encoding="utf-8")
    header = "\n".join(line for line in text.splitlines() if line.startswith("#"))
    doc = tomllib.loads(text)
    for section in ("output", "verify"):
        for key in doc[section]:
            assert f"{key} =" in header or f"[[{section}.{key}]]" in header, (section, key)
    for stage in STAGES:
        assert stage in header


def test_against_the_shipped_stage_files() -> None:
    folder = data_dir("stages")
    assert [stage for stage in STAGES if not (folder / f"{stage}.toml").is_file()] == []
    schemas = load_stage_schemas()
    assert set(STAGES) <= set(schemas)
    for name in ("default", "spark-k8s-python-deps"):
        policy = load_policy(name)
        assert set(policy.stages) == set(schemas)
        assert tomllib.loads(policy.to_toml())["name"] == name
