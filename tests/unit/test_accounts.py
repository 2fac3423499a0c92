"""harden.accounts: the one reader of passwd/group/shadow and the runtime's rules for USER, with the edge cases
the three earlier readers disagreed on (root without passwd, an unknown numeric uid's gid, indented comments)."""

from __future__ import annotations

import pytest

from harden.accounts import parse_accounts, resolve_user

PASSWD = """root:x:0:0:root:/root:/bin/bash
  # an indented comment
daemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin
app:x:1000:1000:app:/home/app:/bin/sh
broken:x:notanumber:1:broken:/nowhere:/bin/false
nonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin
"""
GROUP = """root:x:0:
staff:x:50:app,nonroot
app:x:1000:
nonroot:x:65532:
"""
ACCOUNTS = parse_accounts(PASSWD, GROUP, "root:*:19000::::::\nnopass::19000::::::\n")


@pytest.mark.parametrize(
    ("user", "uid", "gid", "home", "groups"),
    [
        ("", 0, 0, "/root", ()),
        ("0", 0, 0, "/root", ()),
        ("root:root", 0, 0, "/root", ()),
        ("app", 1000, 1000, "/home/app", (50,)),
        ("1000", 1000, 1000, "/home/app", (50,)),
        ("app:staff", 1000, 50, "/home/app", ()),
        ("65532:65532", 65532, 65532, "/home/nonroot", (50,)),
        ("4242", 4242, 0, "/", ()),  # no passwd entry: gid 0, HOME /, as runc does
        ("4242:7", 4242, 7, "/", ()),
    ],
)
def test_users_resolve_as_a_runtime_resolves_them(user: str, uid: int, gid: int, home: str,
                                                  groups: tuple[int, ...]) -> None:
    found = resolve_user(user, ACCOUNTS)
    assert (found.uid, found.gid, found.home, found.groups) == (uid, gid, home, groups)
    assert found.resolved and found.problem() == ""


def test_unknown_names_do_not_resolve_and_say_why() -> None:
    ghost = resolve_user("ghost", ACCOUNTS)
    assert (ghost.uid, ghost.resolved) == (None, False)
    assert ghost.problem() == "user 'ghost' is not in the image's /etc/passwd"
    nogroup = resolve_user("app:nogroup", ACCOUNTS)
    assert (nogroup.uid, nogroup.gid) == (1000, None)
    assert nogroup.problem() == "group 'nogroup' is not in the image's /etc/group"


def test_root_is_root_numerically_and_by_name_even_without_passwd() -> None:
    assert resolve_user("0:0", ACCOUNTS).is_root
    nothing = parse_accounts(None, None)
    bare_root = resolve_user("root", nothing)
    assert bare_root.uid is None and bare_root.is_root  # a runtime refuses it; still root for the review
    assert not resolve_user("65532", nothing).is_root
    assert not nothing.has_passwd


def test_records_keep_lines_skip_comments_and_read_bad_numbers_as_none() -> None:
    assert [u.name for u in ACCOUNTS.users] == ["root", "daemon", "app", "broken", "nonroot"]
    broken = ACCOUNTS.user("broken")
    assert broken is not None and broken.uid is None and broken.gid == 1
    assert ACCOUNTS.user("app") is not None and ACCOUNTS.user("app").line == "app:x:1000:1000:app:/home/app:/bin/sh"  # type: ignore[union-attr]
    assert ACCOUNTS.group("staff") is not None and ACCOUNTS.group("staff").members == ("app", "nonroot")  # type: ignore[union-attr]
    assert ACCOUNTS.shadow == (("root", "*"), ("nopass", ""))
