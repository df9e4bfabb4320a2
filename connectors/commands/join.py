"""hub-connector join: take in the bundle the hub operator sent after registering you."""

from __future__ import annotations

import argparse
from pathlib import Path

from connectors.config import JoinSettings, load_config, write_config
from connectors.runtime import add_config_argument, say
from hub.bundle import Bundle
from hub.errors import ConfigError
from hub.keys import VerifyKey
from hub.secrets import make_private_dirs, write_private


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add `join BUNDLE` to the hub-connector parser."""
    parser = subparsers.add_parser(
        "join", help="take in the hub's bundle: broker login, CA certificate, operator key",
        description=(
            "Store the broker login and the hub CA's certificate from the bundle the hub "
            "operator sent you (files readable by you only), pin the hub operator's public "
            "key (notifications signed with any other key are refused) and add all of it to "
            "the configuration file. Run it again with a new bundle when the hub re-issues it."
        ),
    )
    parser.add_argument("bundle", type=Path, help="the <participant>.bundle.json file")
    add_config_argument(parser)
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    """Take in the operator's bundle: keep the broker secret privately and pin the operator key."""
    config = load_config(Path(args.config))
    bundle = Bundle.load(Path(args.bundle))
    if bundle.participant_id != config.participant_id:
        raise ConfigError(
            f"the bundle is for {bundle.participant_id}, this connector is "
            f"{config.participant_id}; ask the hub operator for your own"
        )
    operator = VerifyKey.from_base64(bundle.hub_operator_public_key)
    base = config.path.resolve().parent
    folder = make_private_dirs(base / "credentials")
    secret_rel, ca_rel = "credentials/hub.secret", "credentials/hub-ca.pem"
    write_private(base / secret_rel, (bundle.secret + "\n").encode("ascii"))
    (folder / "hub-ca.pem").write_text(bundle.ca_certificate, encoding="ascii")
    write_config(
        config.path, participant_id=config.participant_id, display_name=config.display_name,
        hub=bundle.bootstrap, topic_prefix=bundle.topic_prefix,
        key_file=_relative(config.key_file, base), state_dir=_relative(config.state_dir, base),
        join=JoinSettings(bundle.principal, secret_rel, ca_rel, operator.base64), replace=True,
    )
    say(f"joined the hub at {bundle.bootstrap} as {bundle.principal}; "
        f"hub operator key {operator.key_id} pinned in {config.path}")
    say(f"you may delete {args.bundle} now: its secret is kept in {base / secret_rel}")
    return 0


def _relative(path: Path, base: Path) -> str:
    try:
        return str(path.resolve().relative_to(base))
    except ValueError:
        return str(path.resolve())
