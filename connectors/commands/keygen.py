"""hub-connector keygen: a participant key pair; the private key never leaves this machine."""

from __future__ import annotations

import argparse
from pathlib import Path

from hub.keys import generate_keypair


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "keygen",
        help="create an Ed25519 key pair (private key file mode 0600)",
        description="Write a new private key to --out (readable by its owner only) and print "
        "the public key and its key id, which the hub operator registers.",
    )
    parser.add_argument("--out", type=Path, required=True, help="private key file to create")
    parser.add_argument("--force", action="store_true", help="overwrite an existing key file")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    key = generate_keypair()
    path = key.save(args.out, overwrite=args.force)
    print(f"private key: {path} (mode 0600, keep it here)")
    print(f"public key:  {key.verify_key.base64}")
    print(f"key id:      {key.key_id}")
    return 0
