"""Installed-database text for the apk tests.

HAND_WRITTEN is hand-written from knowledge of python:3.11-alpine's (Alpine 3.19) ``lib/apk/db/installed``:
the layout, field order and kinds of values are apk-tools' (apk_pkg_write_index_header, apk_db_fdb_write);
identities (C), sizes, build times and commits are stand-ins, not copied from an image. The two symlink
``Z:`` values are real: they are Q1 + base64(SHA-1) of the link targets ``ld-musl-x86_64.so.1`` and
``/bin/busybox``, the same in every Alpine image.
"""

from __future__ import annotations

HAND_WRITTEN = """\
C:Q1SDNRHr0Y9jG6hbN0xOCKkoBRwKk=
P:musl
V:1.2.4_git20230717-r4
A:x86_64
S:407278
I:663552
T:the musl c library (libc) implementation
U:https://musl.libc.org/
L:MIT
o:musl
m:Timo Teräs <timo.teras@iki.fi>
t:1703600413
c:5f6ab5a1cba3fef1e2a0e3d5f2ba1e2bf2b0a7a5
p:so:libc.musl-x86_64.so.1=1
F:lib
R:ld-musl-x86_64.so.1
a:0:0:755
Z:Q1qMVjw4ms8cZmaBZ1PgKMXOb0g5E=
R:libc.musl-x86_64.so.1
a:0:0:777
Z:Q17yJ3JFNypA4mxhJJr0ou6CzsJVI=

C:Q1a0x8RYDtsdYxJdrN1Oq0LB6vCsk=
P:busybox-binsh
V:1.36.1-r15
A:x86_64
S:1543
I:1
T:busybox ash /bin/sh
U:https://busybox.net/
L:GPL-2.0-only
o:busybox
m:Sören Tempel <soeren+alpine@soeren-tempel.net>
t:1702387025
c:0b9cbd1aa3cc1f0d5d2ef0ea5b51ef33b3bc8e09
D:busybox=1.36.1-r15
p:/bin/sh cmd:sh=1.36.1-r15
r:busybox-initscripts
F:bin
R:sh
a:0:0:777
Z:Q1pcfTfDNEbNKQc2s1tia7da05M8Q=

C:Q1Cz6JgMfVYcLu4rE6hWZrHqsFtQE=
P:busybox-suid
V:1.36.1-r15
A:x86_64
S:2320
I:12288
T:suid binary of busybox
U:https://busybox.net/
L:GPL-2.0-only
o:busybox
m:Sören Tempel <soeren+alpine@soeren-tempel.net>
t:1702387025
c:0b9cbd1aa3cc1f0d5d2ef0ea5b51ef33b3bc8e09
D:busybox so:libc.musl-x86_64.so.1
F:bin
R:bbsuid
a:0:0:4111
Z:Q1Ozx4qUfXK9lzvbzl6ZjZ9ruETfk=

C:Q1Dq0TzJk0nMjKJ2WNOFMc3DK8MB8=
P:alpine-baselayout-data
V:3.4.3-r2
A:x86_64
S:11235
I:77824
T:Alpine base dir structure and init scripts
U:https://git.alpinelinux.org/cgit/aports/tree/main/alpine-baselayout
L:GPL-2.0-only
o:alpine-baselayout
m:Natanael Copa <ncopa@alpinelinux.org>
t:1704300722
c:c8de61c1b4d9f6e8a1b1ab1c9e2cf3f0b2a58d0e
r:alpine-baselayout
F:etc
R:fstab
Z:Q11Q7hNe8QpDS531guqCdrXBzoA/o=
R:group
Z:Q12Otk4M39fP2Zjkobu0nC9FvlRI0=
R:hostname
Z:Q16nVwYVXP/tChvUPdukVD2ifXOmc=
F:root
M:0:0:700
F:tmp
M:0:0:1777
F:var/empty
M:0:0:555

C:Q1Y9xXzR+dbXeq5cLTv9ZDvNMNB2M=
P:.python-rundeps
V:20240207.221705
A:noarch
S:0
I:0
T:virtual meta package
U:
L:
D:so:libbz2.so.1 so:libc.musl-x86_64.so.1 so:libcrypto.so.3 so:libffi.so.8 so:libncursesw.so.6 \
so:libpanelw.so.6 so:libreadline.so.8 so:libsqlite3.so.0 so:libssl.so.3 so:libz.so.1

"""
