"""Secret files: generated once, kept readable by their owner only, never printed.

A secret is one line of URL-safe text in a file of mode 0600 inside a folder of mode 0700.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path
from typing import TextIO

from hub.errors import ConfigError

SECRET_BYTES = 32


def private_dir(path: Path) -> Path:
    """Create `path` (and parents) if missing and make it 0700; returns it."""
    path.mkdir(parents=True, exist_ok=True)
    path.chmod(0o700)
    return path


def make_private_dirs(path: Path) -> Path:
    """Create `path` and its missing parents with mode 0700; returns it.

    Folders that exist already keep their mode: they may be shared ones others must traverse
    (a home folder, the folder PostgreSQL's data lives under).
    """
    missing = []
    folder = path
    while not folder.exists():
        missing.append(folder)
        folder = folder.parent
    for folder in reversed(missing):
        try:
            folder.mkdir(mode=0o700)
        except FileExistsError:
            continue  # another process made it meanwhile: it is not ours to change
        folder.chmod(0o700)  # the umask may have taken more than group and other bits
    return path


def create_private_file(path: Path) -> Path:
    """Make sure `path` exists as a file only its owner can read (mode 0600); returns it.

    For files another library then opens itself (SQLite: its -wal and -shm files take the
    database file's mode). Its missing folders are created 0700.
    """
    make_private_dirs(path.parent)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        os.fchmod(fd, 0o600)
    except PermissionError:
        pass  # a file of another user that we may write to: its owner decides its mode
    finally:
        os.close(fd)
    return path


def write_private(path: Path, data: bytes) -> None:
    """Write `data` to a new or existing file that only its owner can read (mode 0600).

    A missing folder is created 0700; an existing one keeps its mode (it may be a folder
    others must traverse, such as the one PostgreSQL's data lives under).
    """
    make_private_dirs(path.parent)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.fchmod(fd, 0o600)
        os.write(fd, data)
    finally:
        os.close(fd)


def open_private_write(path: Path, *, encoding: str = "utf-8", newline: str | None = None
                       ) -> TextIO:
    """A text file opened for writing from the start, readable by its owner only (mode 0600).

    Its missing folders are created 0700; an existing file is emptied and made 0600.
    """
    make_private_dirs(path.parent)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.fchmod(fd, 0o600)
    except OSError:
        os.close(fd)
        raise
    return os.fdopen(fd, "w", encoding=encoding, newline=newline)


def open_private_append(path: Path) -> TextIO:
    """A text file opened for appending, created readable by its owner only (mode 0600).

    Its missing folders are created 0700.
    """
    make_private_dirs(path.parent)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    return os.fdopen(fd, "a", encoding="utf-8")


def read_secret(path: Path, hint: str) -> str:
    """The secret in `path`; ConfigError with `hint` (what creates it) when it is missing."""
    try:
        text = path.read_text(encoding="ascii").strip()
    except FileNotFoundError:
        raise ConfigError(f"no secret at {path}; {hint}") from None
    except (OSError, UnicodeError) as err:
        raise ConfigError(f"cannot read the secret {path}: {err}") from err
    if not text:
        raise ConfigError(f"the secret file {path} is empty; {hint}")
    return text


def ensure_secret(path: Path) -> str:
    """The secret in `path`, generated first when the file does not exist yet."""
    if not path.exists():
        write_private(path, (secrets.token_urlsafe(SECRET_BYTES) + "\n").encode("ascii"))
    return read_secret(path, "it could not be created")
