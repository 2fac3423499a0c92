from __future__ import annotations

from stage_helpers import FakeImage, replaced

from harden.image.model import EntryType
from harden.stages.dedupe import Dedupe

BLOB = b"x" * 4096


def test_three_copies_become_one_file_and_two_hardlinks(image: FakeImage) -> None:
    image.file("opt/b/lib.so", BLOB, mode=0o755)
    image.file("opt/a/lib.so", BLOB, mode=0o755)
    image.file("opt/c/lib.so", BLOB, mode=0o755)
    plan = Dedupe().plan(image.ctx(Dedupe))
    links = replaced(plan)
    assert set(links) == {"opt/b/lib.so", "opt/c/lib.so"}
    for link in links.values():
        assert (link.type, link.linkname, link.size, link.mode) == (
            EntryType.HARDLINK,
            "opt/a/lib.so",
            4096,
            0o755,
        )
    change = next(c for c in plan.changes if str(c.entry.path) == "opt/c/lib.so")
    assert change.category == "duplicates"
    assert "identical to /opt/a/lib.so" in change.reason and "saves 4096 bytes" in change.reason
    assert plan.notes == ("2 duplicate files hardlinked, 8192 bytes stored once",)


def test_differences_small_files_and_mutable_places_are_left_alone(image: FakeImage) -> None:
    image.file("opt/a", BLOB, mode=0o644)
    image.file("opt/b", BLOB, mode=0o755)  # other mode
    image.file("opt/c", BLOB, uid=1000)  # other owner
    image.file("opt/small1", b"tiny")
    image.file("opt/small2", b"tiny")
    image.file("etc/app.conf", BLOB)  # mutable place
    image.file("opt/d", b"y" * 4096)  # other content
    assert Dedupe().plan(image.ctx(Dedupe)).changes == ()
    assert set(replaced(Dedupe().plan(image.ctx(Dedupe, {"min_size": 1, "exclude": []})))) == {"opt/small2", "opt/a"}


def test_existing_hardlinks_are_repointed_to_the_kept_copy(image: FakeImage) -> None:
    image.file("opt/a", BLOB)
    image.file("opt/b", BLOB)
    image.hardlink("opt/b2", "opt/b")
    plan = Dedupe().plan(image.ctx(Dedupe))
    links = replaced(plan)
    assert links["opt/b"].linkname == "opt/a"
    assert links["opt/b2"].linkname == "opt/a"
