"""hub-connector init: configuration file, key pair and registration request in one step."""

from __future__ import annotations

import argparse
from pathlib import Path

from connectors.config import check_participant_id, encryption_key_path, write_config
from connectors.runtime import say
from hub.config import load_settings
from hub.errors import ConfigError
from hub.keys import generate_keypair
from hub.registry import RegistrationRequest, default_permissions
from hub.sealing import generate_encryption_key
from hub.secrets import make_private_dirs


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add `init PARTICIPANT_ID` to the hub-connector parser."""
    settings = load_settings()
    parser = subparsers.add_parser(
        "init",
        help="set up this participant: config file, key pair, registration request",
        description=(
            "Write the connector's configuration file, generate this participant's signing key "
            "pair and its encryption key pair (X25519: personal details the hub sends are "
            "sealed to it), and write the registration request the hub operator imports with "
            "`hubctl registry import`."
        ),
    )
    parser.add_argument("--participant-id", required=True,
                        help="your participant id, e.g. 320000-police")
    parser.add_argument("--display-name", help="your organisation's name, e.g. 江苏省公安厅")
    parser.add_argument("--hub", default=settings.kafka_bootstrap,
                        help=f"the hub's broker address (default: {settings.kafka_bootstrap})")
    parser.add_argument("--topic-prefix", default=settings.topic_prefix,
                        help=f"the hub's topic prefix (default: {settings.topic_prefix!r})")
    parser.add_argument("--config", type=Path, default=Path("hub-connector.toml"),
                        help="configuration file to create (default: ./hub-connector.toml)")
    parser.add_argument("--event-types", nargs="*", metavar="TYPE",
                        help="event types to ask permission for (default: your department's)")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    """Create the configuration, both key pairs, state folders and the registration request."""
    participant: str = args.participant_id
    area, _ = check_participant_id(participant)
    config_path = Path(args.config)
    if config_path.exists():
        raise ConfigError(f"{config_path} already exists; remove it or choose another --config")
    base = config_path.resolve().parent
    key_rel = f"keys/{participant}.pem"
    state_rel = f"state/{participant}"
    key = generate_keypair()
    key.save(base / key_rel)
    sealing = generate_encryption_key()
    sealing.save(encryption_key_path(base / key_rel))
    display = args.display_name or participant
    write_config(config_path, participant_id=participant, display_name=display, hub=args.hub,
                 topic_prefix=args.topic_prefix, key_file=key_rel, state_dir=state_rel)
    # Outbox and inbox live here: folders made now are for this participant's eyes only.
    make_private_dirs(base / state_rel)
    request = RegistrationRequest(
        participant_id=participant, display_name=display, jurisdiction=area,
        public_key=key.verify_key,
        requested_event_types=tuple(args.event_types or default_permissions(participant)),
        encryption_key=sealing.public,
    )
    request_path = base / f"{participant}.registration.json"
    request_path.write_text(request.to_json(), encoding="utf-8")
    say(f"configuration:        {config_path}")
    say(f"private key (keep it): {base / key_rel}  key id {key.key_id}")
    say(f"encryption key (keep it): {encryption_key_path(base / key_rel)}  "
        f"key id {sealing.public.key_id}")
    say(f"registration request: {request_path}  (send this file to the hub operator)")
    return 0
