"""Ed25519 key pairs of participants; private keys stay with their owner, in 0600 files.

A key file is the PEM (PKCS#8, unencrypted) private key. The hub identifies a public key
by its key id: hex of the first 16 bytes of SHA-256 over the raw 32-byte public key.
"""

from __future__ import annotations

import base64
import hashlib
import os
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)

from hub.errors import KeyFileError, PathError
from hub.paths import check_readable_file
from hub.secrets import make_private_dirs

PUBLIC_KEY_SIZE = 32
SIGNATURE_SIZE = 64


def key_id_of(public_key_bytes: bytes) -> str:
    """The key id of a raw Ed25519 public key: 32 lowercase hex characters."""
    return hashlib.sha256(public_key_bytes).digest()[:16].hex()


class VerifyKey:
    """A participant's public key, as the hub holds it."""

    __slots__ = ("_key", "key_id", "public_key_bytes")

    def __init__(self, public_key_bytes: bytes) -> None:
        if len(public_key_bytes) != PUBLIC_KEY_SIZE:
            raise KeyFileError(
                f"an Ed25519 public key is {PUBLIC_KEY_SIZE} bytes, got {len(public_key_bytes)}"
            )
        self.public_key_bytes = bytes(public_key_bytes)
        self._key = Ed25519PublicKey.from_public_bytes(self.public_key_bytes)
        self.key_id = key_id_of(self.public_key_bytes)

    @classmethod
    def from_base64(cls, text: str) -> VerifyKey:
        """A public key from its standard base64 text (as printed by keygen)."""
        try:
            raw = base64.b64decode(text.strip(), validate=True)
        except ValueError as err:
            raise KeyFileError(f"public key is not valid base64: {err}") from err
        return cls(raw)

    @property
    def base64(self) -> str:
        """Standard base64 of the raw public key."""
        return base64.b64encode(self.public_key_bytes).decode("ascii")

    def verify(self, signature: bytes, message: bytes) -> bool:
        """True if the signature over the message is valid for this key."""
        try:
            self._key.verify(signature, message)
        except InvalidSignature:
            return False
        return True

    def __eq__(self, other: object) -> bool:
        return isinstance(other, VerifyKey) and other.public_key_bytes == self.public_key_bytes

    def __hash__(self) -> int:
        return hash(self.public_key_bytes)

    def __repr__(self) -> str:
        return f"VerifyKey(key_id={self.key_id})"


class SigningKey:
    """A participant's private key. Never printed, never sent to the hub."""

    __slots__ = ("_key", "verify_key")

    def __init__(self, private_key: Ed25519PrivateKey) -> None:
        self._key = private_key
        raw = private_key.public_key().public_bytes(
            serialization.Encoding.Raw, serialization.PublicFormat.Raw
        )
        self.verify_key = VerifyKey(raw)

    @property
    def public_key_bytes(self) -> bytes:
        """Raw 32-byte public key."""
        return self.verify_key.public_key_bytes

    @property
    def key_id(self) -> str:
        """Key id of the public half."""
        return self.verify_key.key_id

    def sign(self, message: bytes) -> bytes:
        """64-byte Ed25519 signature."""
        return self._key.sign(message)

    def save(self, path: Path | str, *, overwrite: bool = False) -> Path:
        """Write the private key as PEM, readable and writable by its owner only (0600)."""
        target = Path(path)
        pem = self._key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        flags = os.O_WRONLY | os.O_CREAT | (os.O_TRUNC if overwrite else os.O_EXCL)
        try:
            make_private_dirs(target.parent)
            # Created with 0600 from the start so the key is never briefly world-readable.
            fd = os.open(target, flags, 0o600)
        except FileExistsError as err:
            raise KeyFileError(f"{target} already exists; refusing to overwrite a key") from err
        except OSError as err:
            raise KeyFileError(f"cannot create key file {target}: {err}") from err
        with os.fdopen(fd, "wb") as out:
            out.write(pem)
        os.chmod(target, 0o600)
        return target

    @classmethod
    def load(cls, path: Path | str) -> SigningKey:
        """Read a PEM private key written by `save`; refuses files others can read."""
        source = Path(path)
        try:
            check_readable_file(source, "key file")
        except PathError as err:
            raise KeyFileError(str(err)) from None
        try:
            mode = source.stat().st_mode
            data = source.read_bytes()
        except OSError as err:
            raise KeyFileError(f"cannot read key file {source}: {err}") from err
        if mode & 0o077:
            raise KeyFileError(
                f"{source} is readable by others (mode {mode & 0o777:o}); run chmod 600 on it"
            )
        try:
            key = serialization.load_pem_private_key(data, password=None)
        except (ValueError, TypeError) as err:
            raise KeyFileError(f"{source} does not hold an unencrypted PEM key: {err}") from err
        if not isinstance(key, Ed25519PrivateKey):
            raise KeyFileError(f"{source} holds a {type(key).__name__}, not an Ed25519 key")
        return cls(key)

    def __repr__(self) -> str:
        return f"SigningKey(key_id={self.key_id})"


def generate_keypair() -> SigningKey:
    """A fresh Ed25519 key pair (the public half is `.verify_key`)."""
    return SigningKey(Ed25519PrivateKey.generate())
