"""Alpine's package database (apk) as an image's rootfs holds it, read once for every reader.

* ``installed``: the format of ``lib/apk/db/installed`` (packages, the folders and files they own), kept as
  bytes so the file can be written back byte for byte minus some packages or some files, and
  ``lib/apk/db/triggers`` rewritten without the lines of removed packages;
* ``rootfs``: where the database is (``lib/apk/db``, or ``usr/lib/apk/db`` on merged-/usr Wolfi images) and
  what each of its files is for (``scripts.tar`` and ``etc/apk/world`` are left alone, and why).

``harden.ospkg`` puts this reader and dpkg's behind one interface.
"""
