"""Paths a person gives a command: checked once, here, so every command says the same thing.

A missing file, a folder, a FIFO or a file without read permission becomes a PathError naming
the path and the problem, never a traceback. The file is opened without blocking, so a FIFO
given as input is reported instead of waiting forever for a writer.
"""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path

from hub.errors import PathError


def _kind(mode: int) -> str:
    if stat.S_ISDIR(mode):
        return "a folder"
    if stat.S_ISFIFO(mode):
        return "a FIFO (named pipe)"
    if stat.S_ISSOCK(mode):
        return "a socket"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    return "not a regular file"


def _problem(err: OSError) -> str:
    if err.errno == errno.ENOENT:
        return "no such file"
    if err.errno in (errno.EACCES, errno.EPERM):
        return "permission denied (cannot be read)"
    if err.errno == errno.ENOTDIR:
        return "a part of the path is not a folder"
    return f"cannot be opened: {err.strerror or err}"


def check_readable_file(path: Path, what: str = "file") -> Path:
    """`path` if it is a regular file this process can read; PathError saying why not.

    `what` names the file in the message ("configuration file", "input file" ...).
    """
    try:
        # O_NONBLOCK: opening a FIFO for reading would otherwise wait for a writer.
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    except OSError as err:
        raise PathError(f"{what} {path}: {_problem(err)}") from None
    try:
        mode = os.fstat(fd).st_mode
    finally:
        os.close(fd)
    if not stat.S_ISREG(mode):
        raise PathError(f"{what} {path}: is {_kind(mode)}, not a file")
    return path


def read_user_bytes(path: Path, what: str = "file") -> bytes:
    """The bytes of a file a person named, after check_readable_file."""
    check_readable_file(path, what)
    try:
        return path.read_bytes()
    except OSError as err:
        raise PathError(f"{what} {path}: {_problem(err)}") from None


def check_folder(path: Path, what: str = "folder") -> Path:
    """`path` if it is an existing folder; PathError saying why not."""
    try:
        mode = path.stat().st_mode
    except OSError as err:
        problem = "no such folder" if err.errno == errno.ENOENT else _problem(err)
        raise PathError(f"{what} {path}: {problem}") from None
    if not stat.S_ISDIR(mode):
        raise PathError(f"{what} {path}: is {_kind(mode) if not stat.S_ISREG(mode) else 'a file'}"
                        ", not a folder")
    return path
