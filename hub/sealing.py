"""Details sealed to one participant: X25519, HKDF-SHA256 and ChaCha20-Poly1305.

A participant holds an X25519 key pair next to its Ed25519 signing key; the hub holds the public
half only (registered by an ``encryption-key-added`` event). To send details to a unit the hub
makes a fresh ephemeral key pair for every message:

    shared = X25519(ephemeral private, recipient public)
    key    = HKDF-SHA256(shared, salt = ephemeral public || recipient public, info = INFO)
    box    = ChaCha20-Poly1305(key, nonce, plaintext, aad)

The associated data names what is sealed (the details of a match, or a case file), the match or
case, the recipient and the recipient's key id, so a box opened under another match or case, or
by another participant, fails even with the right key. Nobody without
the recipient's private key (the hub and the broker included, once the ephemeral key is
dropped) can read it.
"""

from __future__ import annotations

import base64
import hashlib
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from hub.errors import HubError, KeyFileError
from hub.secrets import make_private_dirs

__all__ = [
    "CASE_FILE_PURPOSE",
    "DETAILS_PURPOSE",
    "EncryptionKey",
    "EncryptionPublicKey",
    "SealError",
    "generate_encryption_key",
    "open_sealed",
    "seal_for",
]

INFO = b"org.exchangehub.sealed-details.v1"
DETAILS_PURPOSE = "match-details"
CASE_FILE_PURPOSE = "case-file"
PUBLIC_SIZE = 32
_NONCE = 12


class SealError(HubError):
    """A sealed box that cannot be opened: wrong key, wrong match or recipient, or altered."""


def _key_id(raw: bytes) -> str:
    return hashlib.sha256(b"x25519\x00" + raw).digest()[:16].hex()


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode("ascii")


def _unb64(text: Any, what: str) -> bytes:
    try:
        return base64.b64decode(str(text), validate=True)
    except ValueError as err:
        raise SealError(f"{what} is not base64: {err}") from err


@dataclass(frozen=True)
class EncryptionPublicKey:
    """The public half of a participant's X25519 key, as the hub holds it."""

    raw: bytes

    def __post_init__(self) -> None:
        if len(self.raw) != PUBLIC_SIZE:
            raise KeyFileError(f"an X25519 public key is {PUBLIC_SIZE} bytes, got {len(self.raw)}")

    @property
    def key_id(self) -> str:
        return _key_id(self.raw)

    @property
    def base64(self) -> str:
        return _b64(self.raw)

    @classmethod
    def from_base64(cls, text: str) -> EncryptionPublicKey:
        try:
            raw = base64.b64decode(text.strip(), validate=True)
        except ValueError as err:
            raise KeyFileError(f"encryption public key is not valid base64: {err}") from err
        return cls(raw)


class EncryptionKey:
    """A participant's X25519 private key; it never leaves the participant."""

    def __init__(self, private: X25519PrivateKey) -> None:
        self._key = private

    @property
    def public(self) -> EncryptionPublicKey:
        return EncryptionPublicKey(
            self._key.public_key().public_bytes(
                serialization.Encoding.Raw, serialization.PublicFormat.Raw
            )
        )

    def exchange(self, peer: bytes) -> bytes:
        return self._key.exchange(X25519PublicKey.from_public_bytes(peer))

    def save(self, path: Path) -> Path:
        """Write the private key as PEM in a new file of mode 0600 (never overwrites)."""
        pem = self._key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        try:
            make_private_dirs(path.parent)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError as err:
            raise KeyFileError(f"{path} already exists; refusing to overwrite a key") from err
        except OSError as err:
            raise KeyFileError(f"cannot create key file {path}: {err}") from err
        with os.fdopen(fd, "wb") as out:
            out.write(pem)
        return path

    @classmethod
    def load(cls, path: Path) -> EncryptionKey:
        """Read a key written by `save`; refuses files others can read."""
        try:
            mode = path.stat().st_mode
            data = path.read_bytes()
        except OSError as err:
            raise KeyFileError(f"cannot read encryption key {path}: {err}") from err
        if mode & 0o077:
            raise KeyFileError(f"{path} is readable by others; run chmod 600 on it")
        try:
            key = serialization.load_pem_private_key(data, password=None)
        except (ValueError, TypeError) as err:
            raise KeyFileError(f"{path} does not hold an unencrypted PEM key: {err}") from err
        if not isinstance(key, X25519PrivateKey):
            raise KeyFileError(f"{path} holds a {type(key).__name__}, not an X25519 key")
        return cls(key)


def generate_encryption_key() -> EncryptionKey:
    """A fresh X25519 key pair."""
    return EncryptionKey(X25519PrivateKey.generate())


def _aad(purpose: str, match_id: str, recipient: str, key_id: str) -> bytes:
    return "\x1f".join((purpose, match_id, recipient, key_id)).encode("utf-8")


def _box_key(shared: bytes, ephemeral: bytes, recipient: bytes) -> bytes:
    return HKDF(hashes.SHA256(), 32, salt=ephemeral + recipient, info=INFO).derive(shared)


def seal_for(
    recipient_key: EncryptionPublicKey, plaintext: bytes, *, match_id: str, recipient: str,
    purpose: str = DETAILS_PURPOSE,
) -> dict[str, str]:
    """A sealed box (JSON-ready) that only the holder of `recipient_key` can open.

    `purpose` and `match_id` name what is sealed (a case file passes CASE_FILE_PURPOSE and its
    case id), so a box cannot be opened as anything else."""
    ephemeral = X25519PrivateKey.generate()
    ephemeral_raw = ephemeral.public_key().public_bytes(
        serialization.Encoding.Raw, serialization.PublicFormat.Raw
    )
    shared = ephemeral.exchange(X25519PublicKey.from_public_bytes(recipient_key.raw))
    nonce = os.urandom(_NONCE)
    cipher = ChaCha20Poly1305(_box_key(shared, ephemeral_raw, recipient_key.raw))
    aad = _aad(purpose, match_id, recipient, recipient_key.key_id)
    return {
        "alg": "X25519-HKDF-SHA256-CHACHA20POLY1305",
        "key_id": recipient_key.key_id,
        "ephemeral": _b64(ephemeral_raw),
        "nonce": _b64(nonce),
        "ciphertext": _b64(cipher.encrypt(nonce, plaintext, aad)),
    }


def open_sealed(
    key: EncryptionKey, box: Mapping[str, Any], *, match_id: str, recipient: str,
    purpose: str = DETAILS_PURPOSE,
) -> bytes:
    """The plaintext of a box sealed to `key` for this match and recipient; SealError else."""
    public = key.public
    if box.get("key_id") != public.key_id:
        raise SealError(
            f"sealed to key {box.get('key_id')}, not to this participant's key {public.key_id}"
        )
    ephemeral = _unb64(box.get("ephemeral"), "ephemeral")
    if len(ephemeral) != PUBLIC_SIZE:
        raise SealError("the ephemeral key is not 32 bytes")
    nonce = _unb64(box.get("nonce"), "nonce")
    sealed = _unb64(box.get("ciphertext"), "ciphertext")
    try:
        shared = key.exchange(ephemeral)
    except ValueError as err:  # a low-order point: no shared secret, so no box of ours
        raise SealError(f"the ephemeral key is not usable: {err}") from err
    cipher = ChaCha20Poly1305(_box_key(shared, ephemeral, public.raw))
    try:
        return cipher.decrypt(nonce, sealed, _aad(purpose, match_id, recipient, public.key_id))
    except (InvalidTag, ValueError) as err:
        raise SealError(
            "the details do not open: not sealed for this match and participant, or altered"
        ) from err
