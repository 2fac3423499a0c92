from __future__ import annotations

from stage_helpers import FakeImage, removed, skipped

from harden.stages.remove_jvm_payload import RemoveJvmPayload

JAR = b"PK\x03\x04" + b"j" * 2048
ON = {"enabled": True}


def spark_like(image: FakeImage) -> None:
    site = "opt/venv/lib/python3.11/site-packages"
    image.file(f"{site}/pyspark/__init__.py", b"")
    image.file(f"{site}/pyspark/jars/spark-core.jar", JAR)
    image.file(f"{site}/pyspark/jars/hadoop-client.jar", JAR)
    image.file(f"{site}/py4j/java_gateway.py", b"")
    image.file(f"{site}/py4j/py4j0.10.9.jar", JAR)  # beside Python code: removed alone, py4j stays


def test_without_a_jvm_jars_go_and_a_jar_only_directory_goes_whole(image: FakeImage) -> None:
    spark_like(image)
    plan = RemoveJvmPayload().plan(image.ctx(RemoveJvmPayload, ON))
    site = "opt/venv/lib/python3.11/site-packages"
    assert removed(plan) == {f"{site}/pyspark/jars", f"{site}/py4j/py4j0.10.9.jar"}
    assert all(c.category == "jvm-payload" for c in plan.changes)
    assert "3 Java archives" in plan.notes[0]
    assert [give.module for give in plan.gives_up] == ["pyspark.testing"]  # the stage data's dependent_modules


def test_dependent_modules_are_given_up_only_when_the_jars_go(image: FakeImage) -> None:
    spark_like(image)
    settings = {**ON, "dependent_modules": ["pyspark.testing", "py4j.java_gateway"]}
    plan = RemoveJvmPayload().plan(image.ctx(RemoveJvmPayload, settings))
    assert [give.module for give in plan.gives_up] == ["pyspark.testing", "py4j.java_gateway"]
    assert "Java archives" in plan.gives_up[0].reason
    image.file("usr/lib/jvm/java-17/bin/java", b"\x7fELF")
    assert RemoveJvmPayload().plan(image.ctx(RemoveJvmPayload, settings)).gives_up == ()


def test_a_jvm_anywhere_keeps_every_jar(image: FakeImage) -> None:
    spark_like(image)
    image.file("usr/lib/jvm/java-17/lib/server/libjvm.so", b"\x7fELF")
    plan = RemoveJvmPayload().plan(image.ctx(RemoveJvmPayload, ON))
    assert plan.changes == ()
    assert "a JVM is present (/usr/lib/jvm/java-17/lib/server/libjvm.so)" in plan.notes[0]


def test_java_home_in_the_config_counts_as_a_jvm(image: FakeImage) -> None:
    spark_like(image)
    image.file("opt/java/bin/java", b"\x7fELF")
    image.config["Env"] = [*image.config["Env"], "JAVA_HOME=/opt/java"]
    assert RemoveJvmPayload().plan(image.ctx(RemoveJvmPayload, {**ON, "jvm_markers": []})).changes == ()


def test_keep_list(image: FakeImage) -> None:
    spark_like(image)
    plan = RemoveJvmPayload().plan(image.ctx(RemoveJvmPayload, {**ON, "keep": ["**/py4j/*.jar"]}))
    assert "opt/venv/lib/python3.11/site-packages/py4j/py4j0.10.9.jar" in skipped(plan)
