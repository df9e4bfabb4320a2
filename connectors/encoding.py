"""Text-encoding detection for department files: UTF-8 (with or without BOM) or GB18030/GBK.

Strict UTF-8 is tried first because GB18030 accepts many UTF-8 byte sequences as valid but wrong
characters; only a file that is not valid UTF-8 anywhere is read as GB18030 (a superset of GBK and
GB2312). Files that are really binary are refused with a message that says what they look like.
"""

from __future__ import annotations

import codecs
from pathlib import Path

from hub.errors import InputFileError

_CHUNK = 1 << 20
# Magic numbers of formats that people commonly rename to .csv by mistake.
_MAGIC: tuple[tuple[bytes, str], ...] = (
    (b"PK\x03\x04", "a ZIP archive or an Excel .xlsx workbook (rename it to .xlsx if it is one)"),
    (b"\xd0\xcf\x11\xe0", "an old Excel .xls / Word .doc file (save it as .xlsx or CSV)"),
    (b"%PDF", "a PDF document"),
    (b"\x89PNG", "a PNG image"),
    (b"\xff\xd8\xff", "a JPEG image"),
    (b"GIF8", "a GIF image"),
    (b"\x1f\x8b", "a gzip archive"),
    (b"Rar!", "a RAR archive"),
    (b"7z\xbc\xaf", "a 7-Zip archive"),
)
_UTF16_BOMS = (codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)
# Controls that never appear in a text table; their presence means binary content.
_ALLOWED_CONTROLS = {"\t", "\n", "\r", "\f"}
_MAX_CONTROL_SHARE = 0.01


def _describe_magic(head: bytes) -> str | None:
    for magic, what in _MAGIC:
        if head.startswith(magic):
            return what
    return None


def _decodes_fully(path: Path, encoding: str) -> tuple[bool, int]:
    """Whether the whole file decodes strictly; also the byte offset of the first failure."""
    decoder = codecs.getincrementaldecoder(encoding)(errors="strict")
    offset = 0
    with path.open("rb") as handle:
        while chunk := handle.read(_CHUNK):
            try:
                decoder.decode(chunk)
            except UnicodeDecodeError as err:
                return False, offset + err.start
            offset += len(chunk)
        try:
            decoder.decode(b"", final=True)
        except UnicodeDecodeError:
            return False, offset
    return True, -1


def _has_nul(path: Path) -> int:
    """Offset of the first NUL byte, or -1; text tables never contain one."""
    offset = 0
    with path.open("rb") as handle:
        while chunk := handle.read(_CHUNK):
            found = chunk.find(b"\x00")
            if found >= 0:
                return offset + found
            offset += len(chunk)
    return -1


def _too_many_controls(path: Path, encoding: str) -> bool:
    with path.open("r", encoding=encoding, errors="strict", newline="") as handle:
        sample = handle.read(65536)
    if not sample:
        return False
    controls = sum(1 for ch in sample if ord(ch) < 32 and ch not in _ALLOWED_CONTROLS)
    return controls / len(sample) > _MAX_CONTROL_SHARE


def detect_encoding(path: Path) -> str:
    """The Python codec name to read `path` with: 'utf-8-sig' or 'gb18030'.

    Raises InputFileError for empty, binary, UTF-16 or undecodable files.
    """
    with path.open("rb") as handle:
        head = handle.read(16)
    if not head:
        raise InputFileError(f"{path.name}: the file is empty")
    if head.startswith(_UTF16_BOMS):
        raise InputFileError(
            f"{path.name}: the file is UTF-16 text; save it as UTF-8 (CSV UTF-8) or GB18030"
        )
    what = _describe_magic(head)
    if what is not None:
        raise InputFileError(f"{path.name}: this is not a text table, it looks like {what}")
    nul_at = _has_nul(path)
    if nul_at >= 0:
        raise InputFileError(
            f"{path.name}: this is not a text table (binary content, a NUL byte at byte {nul_at})"
        )
    # utf-8-sig reads plain UTF-8 too and drops a leading BOM if present.
    ok, _ = _decodes_fully(path, "utf-8-sig")
    encoding = "utf-8-sig"
    if not ok:
        ok, bad_at = _decodes_fully(path, "gb18030")
        if not ok:
            raise InputFileError(
                f"{path.name}: the text is neither UTF-8 nor GB18030/GBK "
                f"(undecodable bytes near byte {bad_at}); save it as UTF-8"
            )
        encoding = "gb18030"
    if _too_many_controls(path, encoding):
        raise InputFileError(f"{path.name}: this is not a text table (binary control characters)")
    return encoding
