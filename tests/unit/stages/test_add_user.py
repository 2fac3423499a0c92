from __future__ import annotations

from pathlib import PurePosixPath

import pytest
from stage_helpers import DEFAULT_PATH, FakeImage, config_set, replaced, skipped

from harden.errors import PolicyError, UnsupportedImage
from harden.image.model import EntryType, FileEntry
from harden.plan import Add, Plan, Replace
from harden.stages.add_user import AddUser

PASSWD = "root:x:0:0:root:/root:/bin/bash\ndaemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin\n"
GROUP = "root:x:0:\ndaemon:x:1:\n"


def content(image: FakeImage, entry: FileEntry) -> str:
    assert entry.digest is not None
    return image.blobs.read(entry.digest).decode()


def added(plan: Plan) -> dict[str, FileEntry]:
    return {str(c.entry.path): c.entry for c in plan.changes if isinstance(c, Add)}


def base(image: FakeImage) -> None:
    image.file("etc/passwd", PASSWD)
    image.file("etc/group", GROUP)
    image.file("etc/shadow", "root:*:19000:0:99999:7:::\n", mode=0o640)
    image.dir("tmp", mode=0o1777)


def test_user_and_group_are_appended_and_existing_lines_kept(image: FakeImage) -> None:
    base(image)
    plan = AddUser().plan(image.ctx(AddUser))
    files = replaced(plan)
    assert (
        content(image, files["etc/passwd"])
        == PASSWD + "nonroot:x:65532:65532:nonroot:/home/nonroot:/usr/sbin/nologin\n"
    )
    assert content(image, files["etc/group"]) == GROUP + "nonroot:x:65532:\n"
    assert content(image, files["etc/shadow"]) == "root:*:19000:0:99999:7:::\nnonroot:!::0:99999:7:::\n"
    assert files["etc/shadow"].mode == 0o640
    assert "etc/gshadow" not in files and "etc/gshadow" not in added(plan)
    new_dirs = added(plan)
    assert new_dirs["home"].mode == 0o755
    home = new_dirs["home/nonroot"]
    assert (home.type, home.uid, home.gid, home.mode) == (EntryType.DIR, 65532, 65532, 0o750)
    settings = config_set(plan)
    assert settings["User"] == "65532:65532"
    assert settings["Env"] == [DEFAULT_PATH, "HOME=/home/nonroot"]


def test_missing_trailing_newline_and_missing_files(image: FakeImage) -> None:
    image.file("etc/passwd", "root:x:0:0:root:/root:/bin/sh")
    plan = AddUser().plan(image.ctx(AddUser))
    assert content(image, replaced(plan)["etc/passwd"]).splitlines()[1].startswith("nonroot:x:65532:")
    group = added(plan)["etc/group"]
    assert content(image, group) == "root:x:0:\nnonroot:x:65532:\n"


def test_setuid_cleared_and_world_writable_fixed_each_reported(image: FakeImage) -> None:
    base(image)
    image.file("usr/bin/passwd", b"\x7fELF", mode=0o4755)
    image.file("usr/bin/wall", b"\x7fELF", mode=0o2755)
    image.file("srv/data.json", "{}", mode=0o666)
    image.dir("srv/uploads", mode=0o777)
    image.dir("var/tmp", mode=0o1777)
    image.dir("srv/shared", mode=0o2775)
    image.symlink("srv/link", "data.json")
    image.entries[PurePosixPath("dev/null")] = FileEntry(PurePosixPath("dev/null"), EntryType.CHAR, mode=0o666)
    plan = AddUser().plan(image.ctx(AddUser))
    changes = {str(c.entry.path): c for c in plan.changes if isinstance(c, Add | Replace)}
    assert changes["usr/bin/passwd"].entry.mode == 0o755
    assert changes["usr/bin/passwd"].reason == "cleared setuid (mode 4755 → 0755)"
    assert changes["usr/bin/passwd"].category == "permissions"
    assert changes["usr/bin/wall"].reason == "cleared setgid (mode 2755 → 0755)"
    assert changes["srv/data.json"].entry.mode == 0o664
    assert changes["srv/uploads"].entry.mode == 0o775
    for untouched in ("var/tmp", "srv/shared", "srv/link", "dev/null", "tmp"):
        assert untouched not in changes
    assert skipped(plan)["var/tmp"] == "kept world-writable: sticky directory (like /tmp)"


def test_tmp_is_created_or_made_sticky(image: FakeImage) -> None:
    image.file("etc/passwd", PASSWD)
    plan = AddUser().plan(image.ctx(AddUser))
    assert added(plan)["tmp"].mode == 0o1777
    image.dir("tmp", mode=0o755)
    assert replaced(AddUser().plan(image.ctx(AddUser)))["tmp"].mode == 0o1777


def test_an_existing_non_root_user_is_kept_numerically(image: FakeImage) -> None:
    base(image)
    image.file("etc/passwd", PASSWD + "app:x:1000:1000::/home/app:/bin/sh\n")
    image.config["User"] = "app"
    plan = AddUser().plan(image.ctx(AddUser))
    assert config_set(plan) == {"User": "1000:1000", "Env": [DEFAULT_PATH, "HOME=/home/app"]}
    assert "etc/passwd" not in replaced(plan)
    image.config["User"] = "4242"  # numeric but not in passwd: ours is set
    assert config_set(AddUser().plan(image.ctx(AddUser)))["User"] == "65532:65532"
    image.config["User"] = "0"
    assert config_set(AddUser().plan(image.ctx(AddUser)))["User"] == "65532:65532"


def test_same_user_already_present_is_reused(image: FakeImage) -> None:
    base(image)
    image.file("etc/passwd", PASSWD + "nonroot:x:65532:65532::/home/nonroot:/usr/sbin/nologin\n")
    image.file("etc/group", GROUP + "nonroot:x:65532:\n")
    plan = AddUser().plan(image.ctx(AddUser, {"keep_existing_user": False}))
    assert "etc/passwd" not in replaced(plan) and "etc/group" not in replaced(plan)
    assert config_set(plan)["User"] == "65532:65532"


@pytest.mark.parametrize(
    ("passwd_line", "group_line"),
    [
        ("nonroot:x:1000:1000::/home/nonroot:/bin/sh", ""),
        ("someone:x:65532:65532::/home/someone:/bin/sh", ""),
        ("", "users:x:65532:"),
    ],
)
def test_conflicting_accounts_fail_clearly(image: FakeImage, passwd_line: str, group_line: str) -> None:
    image.file("etc/passwd", PASSWD + passwd_line + "\n")
    image.file("etc/group", GROUP + group_line + "\n")
    with pytest.raises(UnsupportedImage) as info:
        AddUser().plan(image.ctx(AddUser))
    assert (passwd_line or group_line) in info.value.details[0]


def test_invalid_settings(image: FakeImage) -> None:
    with pytest.raises(PolicyError, match="uid"):
        AddUser().plan(image.ctx(AddUser, {"uid": 0}))
    with pytest.raises(PolicyError, match="name"):
        AddUser().plan(image.ctx(AddUser, {"name": "Bad Name"}))
    with pytest.raises(PolicyError, match="home"):
        AddUser().plan(image.ctx(AddUser, {"home": "../escape"}))
