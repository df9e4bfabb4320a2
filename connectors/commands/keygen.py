"""hub-connector keygen: a participant key pair; the private key never leaves this machine."""

from __future__ import annotations

import argparse
from pathlib import Path

from connectors.config import encryption_key_path
from hub.errors import KeyFileError
from hub.keys import generate_keypair
from hub.sealing import generate_encryption_key


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add `keygen --out PATH [--force]` to the hub-connector parser."""
    parser = subparsers.add_parser(
        "keygen",
        help="create an Ed25519 signing key pair and an X25519 encryption key pair (mode 0600)",
        description="Write a new private signing key to --out and an encryption key beside it "
        "(OUT's name with .x25519.pem; both readable by their owner only), and print the "
        "public keys and key ids, which the hub operator registers (the encryption key goes "
        "in the registration request as encryption_public_key).",
    )
    parser.add_argument("--out", type=Path, required=True, help="private key file to create")
    parser.add_argument("--force", action="store_true", help="overwrite an existing key file")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    """Write new signing and encryption key pairs (mode 0600) and print their public halves."""
    key = generate_keypair()
    sealing_path = encryption_key_path(Path(args.out))
    if sealing_path.exists():
        if not args.force:
            raise KeyFileError(f"{sealing_path} already exists; refusing to overwrite a key")
        sealing_path.unlink()
    path = key.save(args.out, overwrite=args.force)
    sealing = generate_encryption_key()
    sealing.save(sealing_path)
    print(f"private key: {path} (mode 0600, keep it here)")
    print(f"public key:  {key.verify_key.base64}")
    print(f"key id:      {key.key_id}")
    print(f"encryption key: {sealing_path} (mode 0600, keep it here)")
    print(f"encryption public key: {sealing.public.base64}")
    print(f"encryption key id:     {sealing.public.key_id}")
    return 0
