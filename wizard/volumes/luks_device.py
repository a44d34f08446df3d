"""``luks-device``: why stackseal does not offer it (yet), in one place the wizard and docs quote.

Why not offered: the answers file names ONE block device (``volumes.device``) while a stack has
several volumes (Neo4j data, logs, import, backups, the object store), each with its own key and
mount point. Formatting the device as one LUKS container would put every volume under one key
and one mount, contradicting the per-volume keys stackseal promises; carving it into one
partition (or LVM volume) per volume is disk partitioning that stackseal does not do, and a
mistake there destroys the wrong data. And on our test machines the kernel has no device-mapper,
so no LUKS device can be opened to prove such a path end to end. ``luks-file`` gives the same
dm-crypt protection with per-volume containers: put its ``volumes.root`` on a filesystem on that
device.
"""

from __future__ import annotations

NOT_OFFERED = (
    "not offered: one device for several volumes would need partitioning stackseal does not do; "
    "use luks-file with volumes.root on a filesystem on that device"
)
