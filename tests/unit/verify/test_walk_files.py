"""Each module's reply carries the files its import opened (never Python sources or bytecode) and the paths it
tried to write, recorded with an audit hook: the host learns which removed files the original used."""

from __future__ import annotations

from pathlib import Path

from verify_support import ScriptCall, config, modules, write_tree


def test_files_opened_and_written_at_import_are_recorded_per_module(
        run_script: ScriptCall, python: str, tmp_path: Path, home: Path) -> None:
    tree = write_tree(tmp_path / "site", {
        "reader/__init__.py": "import os\nopen(os.path.join(os.path.dirname(__file__), 'table.dat')).read()\n",
        "reader/table.dat": "1 2 3\n",
        "reader/zsibling.py": "",
        "writer.py": "import os\nopen(os.path.join(os.environ['HOME'], 'state.txt'), 'w').write('x')\n"
                     "os.mkdir(os.path.join(os.environ['HOME'], 'cache'))\n",
    })
    done = run_script("walk", "survey", config(interpreters=[python], timeout=60), path=tree)
    assert done.returncode == 0, done.stderr
    walked = modules(done.stdout)
    assert walked["reader"]["opened"] == [str(tree / "reader" / "table.dat")]
    assert walked["reader.zsibling"]["opened"] == []  # what the parent read is the parent's
    assert {str(home / "state.txt"), str(home / "cache")} <= set(walked["writer"]["writes"])
    assert str(home / "state.txt") not in walked["writer"]["opened"]
    every_opened = [path for line in walked.values() for path in line.get("opened", ())]
    assert every_opened, "no module of the walk opened any file: the recording is not working"
    assert not [path for path in every_opened if path.endswith((".py", ".pyc")) or "/__pycache__/" in path]
    assert not [path for path in every_opened if path.startswith(("/proc/", "/dev/", "/sys/"))]
