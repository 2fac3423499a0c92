"""Debian's package database (dpkg) as an image's rootfs holds it, read once for every reader.

* ``status``: where the records are (``var/lib/dpkg/status`` and the distroless ``status.d/<name>`` files) and
  what they say, kept as bytes so a file can be written back byte for byte minus some records;
* ``owned``: which paths a package owns (``info/<package>[:<arch>].list``, else ``status.d/<name>.md5sums``)
  and which of them dpkg-divert moved;
* ``rootfs``: looking a listed path up in the rootfs the way dpkg wrote it (a parent's symlinks followed).

Text is decoded with ``surrogateescape``: non-UTF-8 bytes round-trip and match layer tar names read the same
way; ``status.shown`` makes such text safe for a report.
"""
