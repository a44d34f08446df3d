"""THE safe-file module: every file stackseal reads from the user or writes into a stack goes through here.

Why (stackseal runs as root): the output directory can hold symlinks (git commits them), a
``*_file`` key can point at a FIFO, ``/dev/zero`` or ``/etc/shadow``, and two runs can race.
So:

- :func:`read_regular_file` reads only regular files, of bounded size, opened ``O_NONBLOCK`` and
  checked with ``fstat`` on the open descriptor (a FIFO never blocks, a device is refused);
- :func:`read_secret_file` adds a shape check per kind of secret, so pointing a key at an
  unrelated host file is refused; messages never quote a file's content;
- :class:`OutputDir` does every read and write *inside* the output directory relative to a
  directory file descriptor, one component at a time with ``O_NOFOLLOW``: a symlink there is
  never followed, it is refused with one line;
- :func:`atomic_write` / :meth:`OutputDir.write` write a temp file already carrying its final
  mode, fsync, then rename, so readers see the old or the new content; temp files are named
  ``*.stackseal-tmp`` and :meth:`OutputDir.sweep_temp` removes the leftovers of a killed run;
- :func:`output_lock` is an exclusive ``flock`` on ``<out>/.stackseal/lock`` for render and apply.
"""

from wizard.fsutil.files import (
    MAX_SECRET_BYTES,
    MAX_STACK_FILE_BYTES,
    SECRET_SHAPES,
    TEMP_SUFFIX,
    DiskFull,
    atomic_write,
    check_secret_shape,
    keyed_hash,
    read_regular_file,
    read_secret_file,
    sha256_bytes,
    sha256_file,
)
from wizard.fsutil.lock import output_lock
from wizard.fsutil.outdir import OutputDir, read_below

__all__ = [
    "MAX_SECRET_BYTES",
    "MAX_STACK_FILE_BYTES",
    "SECRET_SHAPES",
    "TEMP_SUFFIX",
    "DiskFull",
    "OutputDir",
    "atomic_write",
    "check_secret_shape",
    "keyed_hash",
    "output_lock",
    "read_below",
    "read_regular_file",
    "read_secret_file",
    "sha256_bytes",
    "sha256_file",
]
