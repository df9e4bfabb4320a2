"""hubctl registry: the hub operator's signed registry events.

Every event built here is checked against the registry state replayed from the local
journal (`<data_dir>/registry/journal.b64`, one base64 envelope per line) before it is
emitted, so nonsense (a key for an unknown participant) never reaches the log. Events are
published to the `<prefix>registry` topic, or written to `--out FILE` (same line format)
to be published later with `hubctl registry publish FILE`. Their sequence numbers come from the
hub operator's one counter in the hub database (processors.pg_operator), shared with the events
the pipeline signs as the operator.
"""

from __future__ import annotations

import argparse
import base64
import binascii
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from hub.config import Settings, load_settings
from hub.envelope import Envelope, decode_envelope, encode_envelope, sign
from hub.errors import EnvelopeError, KeyFileError, RegistryError, StoreError
from hub.identity import HUB_OPERATOR_ID
from hub.keys import SigningKey, VerifyKey, generate_keypair
from hub.paths import check_readable_file, read_user_bytes
from hub.registry import (
    KeyState,
    RegistrationRequest,
    Registry,
    add_key_event,
    encryption_key_event,
    load_operator_key,
    operator_key_paths,
    permission_event,
    register_participant_event,
    registration_events,
    revoke_key_event,
)
from hub.schema_catalog import SchemaCatalog
from hub.sealing import EncryptionPublicKey
from hub.verify import (
    MemorySeenEvents,
    MemorySequenceTracker,
    Rejected,
    apply_registry_event,
    replay_registry,
    verify,
)
from ops.errors import ServiceError

# How long an operator waits for the broker before being told to retry later.
KAFKA_TIMEOUT_MS = 10_000
_Build = Callable[[argparse.Namespace, SchemaCatalog, SigningKey, int], list[Envelope]]


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add `registry` (init, show, publish, import and the signed registry changes) to hubctl."""
    parser = subparsers.add_parser("registry", help="participants, keys and permissions")
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    actions.add_parser("init", help="create the hub operator key if missing").set_defaults(
        handler=_init
    )
    actions.add_parser("show", help="registry state replayed from the journal").set_defaults(
        handler=_show
    )
    pub = actions.add_parser("publish", help="publish the events of a --out file")
    pub.add_argument("file", type=Path)
    pub.set_defaults(handler=_publish_file)

    reg = _emitter(actions, "register", "register a participant", _build_register)
    reg.add_argument("--name", required=True, help="display name")
    reg.add_argument("--jurisdiction", help="GB/T 2260 code (default: the id's area code)")
    reg.add_argument("--permissions", help="comma-separated event types (default: department's)")
    reg.add_argument("--public-key", help="base64 public key to add in the same step")
    reg.add_argument("--bundle", type=Path,
                     help="where to write the participant's bundle (default: "
                          "./<participant>.bundle.json)")

    key = _emitter(actions, "add-key", "add a public key", _build_add_key)
    key.add_argument("--public-key", required=True, help="base64 raw Ed25519 public key")
    key.add_argument("--valid-from", type=_time, help="ISO time (default: now; naive = UTC)")
    key.add_argument("--valid-until", type=_time, help="ISO time (default: open-ended)")

    enc = _emitter(actions, "add-encryption-key",
                   "add (or rotate) the X25519 key the hub seals personal details to",
                   _build_add_encryption_key)
    enc.add_argument("--public-key", required=True,
                     help="base64 raw X25519 public key (`hub-connector keygen` prints it)")
    enc.add_argument("--valid-from", type=_time, help="ISO time (default: now; naive = UTC)")

    rev = _emitter(actions, "revoke-key", "revoke a key", _build_revoke)
    rev.add_argument("key_id", help="32 hex characters")
    rev.add_argument("--effective-at", type=_time,
                     help="earliest moment the key may have been compromised (default: now)")
    rev.add_argument("--reason", default="", help="why")

    for name, granted in (("grant", True), ("withdraw", False)):
        perm = _emitter(actions, name, f"{name} a publishing permission",
                        _build_permission(granted))
        perm.add_argument("event_type")
        perm.add_argument("--effective-at", type=_time, help="ISO time (default: now)")

    imp = actions.add_parser("import", help="register from a connector's registration request")
    imp.add_argument("request_file", type=Path)
    imp.add_argument("--allow-extra", action="store_true",
                     help="grant requested types beyond the department's defaults")
    imp.add_argument("--out", type=Path, help="write events to FILE instead of publishing")
    imp.add_argument("--bundle", type=Path,
                     help="where to write the participant's bundle (broker login, CA, operator "
                          "key; default: <participant>.bundle.json beside the request)")
    imp.set_defaults(handler=_emit, build=_build_import)


def _emitter(actions: Any, name: str, text: str, build: _Build) -> argparse.ArgumentParser:
    parser: argparse.ArgumentParser = actions.add_parser(name, help=text)
    parser.add_argument("participant_id")
    parser.add_argument("--out", type=Path, help="write events to FILE instead of publishing")
    parser.set_defaults(handler=_emit, build=build)
    return parser


def _time(text: str) -> datetime:
    try:
        value = datetime.fromisoformat(text)
    except ValueError as err:
        raise argparse.ArgumentTypeError(f"not an ISO 8601 time: {text!r}") from err
    return value if value.tzinfo else value.replace(tzinfo=UTC)


# -- builders ---------------------------------------------------------------------------


def _build_register(a: argparse.Namespace, cat: SchemaCatalog, op: SigningKey,
                    seq: int) -> list[Envelope]:
    perms = None if a.permissions is None else [
        t.strip() for t in a.permissions.split(",") if t.strip()
    ]
    events = [register_participant_event(
        cat, op, sequence=seq, participant_id=a.participant_id, display_name=a.name,
        jurisdiction=a.jurisdiction, permissions=perms)]
    if a.public_key:
        events.append(add_key_event(cat, op, sequence=seq + 1, participant_id=a.participant_id,
                                    public_key=VerifyKey.from_base64(a.public_key)))
    return events


def _build_add_encryption_key(a: argparse.Namespace, cat: SchemaCatalog, op: SigningKey,
                              seq: int) -> list[Envelope]:
    return [encryption_key_event(cat, op, sequence=seq, participant_id=a.participant_id,
                                 public_key=EncryptionPublicKey.from_base64(a.public_key),
                                 valid_from=a.valid_from)]


def _build_add_key(a: argparse.Namespace, cat: SchemaCatalog, op: SigningKey,
                   seq: int) -> list[Envelope]:
    return [add_key_event(cat, op, sequence=seq, participant_id=a.participant_id,
                          public_key=VerifyKey.from_base64(a.public_key),
                          valid_from=a.valid_from, valid_until=a.valid_until)]


def _build_revoke(a: argparse.Namespace, cat: SchemaCatalog, op: SigningKey,
                  seq: int) -> list[Envelope]:
    return [revoke_key_event(cat, op, sequence=seq, participant_id=a.participant_id,
                             key_id=a.key_id, effective_at=a.effective_at, reason=a.reason)]


def _build_permission(granted: bool) -> _Build:
    def build(a: argparse.Namespace, cat: SchemaCatalog, op: SigningKey,
              seq: int) -> list[Envelope]:
        if a.event_type not in cat:
            raise RegistryError(f"unknown event type {a.event_type!r}; see hubctl schemas list")
        return [permission_event(cat, op, sequence=seq, participant_id=a.participant_id,
                                 event_type=a.event_type, granted=granted,
                                 effective_at=a.effective_at)]

    return build


def _build_import(a: argparse.Namespace, cat: SchemaCatalog, op: SigningKey,
                  seq: int) -> list[Envelope]:
    raw = read_user_bytes(a.request_file, "registration request")
    try:
        text = raw.decode("utf-8")
    except UnicodeError as err:
        raise RegistryError(f"cannot read {a.request_file}: {err}") from err
    request = RegistrationRequest.from_json(text)
    return registration_events(cat, op, request, first_sequence=seq,
                               allow_extra=a.allow_extra)


# -- journal, checking, emitting --------------------------------------------------------


def _journal(settings: Settings) -> Path:
    return operator_key_paths(settings.data_dir)[0].parent / "journal.b64"


def read_events(path: Path) -> list[bytes]:
    """Wire envelopes from a file of base64 lines (blank lines skipped)."""
    if not path.exists():
        return []
    events = []
    for number, line in enumerate(path.read_text(encoding="ascii").splitlines(), 1):
        if line.strip():
            try:
                events.append(base64.b64decode(line, validate=True))
            except (binascii.Error, ValueError) as err:
                raise RegistryError(f"{path}:{number}: not base64: {err}") from err
    return events


def _append(path: Path, events: list[bytes]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a", encoding="ascii") as out:
        for data in events:
            out.write(base64.b64encode(data).decode("ascii") + "\n")


def _operator(settings: Settings) -> SigningKey:
    private, _ = operator_key_paths(settings.data_dir)
    if not private.exists():
        raise RegistryError(f"no operator key at {private}; run `hubctl registry init` first")
    return SigningKey.load(private)


def _state(catalog: SchemaCatalog, operator: VerifyKey, journal: list[bytes]) -> Registry:
    registry, rejected = replay_registry(catalog, operator, journal, now=datetime.now(UTC))
    for problem in rejected:
        print(f"warning: journal event rejected: {problem.reason}: {problem.detail}")
    return registry


def _next_sequence(journal: list[bytes]) -> int:
    sequences = []
    for data in journal:
        try:
            sequences.append(decode_envelope(data).sequence)
        except EnvelopeError:
            continue
    return max(sequences, default=0) + 1


def _numbered(settings: Settings, operator: SigningKey, envelopes: list[Envelope], floor: int,
              say: Callable[[str], None]) -> list[Envelope]:
    """The events numbered (and signed again) from the hub operator's one sequence counter in
    the hub database, which the events the pipeline signs as the operator draw from too.

    Without a reachable hub database (building `--out` files offline) they keep the journal's
    numbers, and the hub may see a replay or a gap for the operator when they arrive."""
    from processors.pg_operator import draw_operator_sequences
    from processors.pg_store import PgConnection

    db = PgConnection(settings.pg_dsn)
    try:
        with db.transaction() as cur:
            numbers = draw_operator_sequences(cur, len(envelopes), floor)
    except StoreError as err:
        say(f"warning: numbered from the journal, not from the hub database ({err}); the hub "
            "may report a sequence gap or replay for the operator")
        return envelopes
    finally:
        db.close()
    return [sign(replace(env, sequence=number), operator)
            for env, number in zip(envelopes, numbers, strict=True)]


def _init(args: argparse.Namespace) -> int:
    private, public = operator_key_paths(load_settings().data_dir)
    if private.exists():
        key = SigningKey.load(private)
        print(f"operator key exists: {private}  key id {key.key_id}")
    else:
        key = generate_keypair()
        key.save(private)
        print(f"operator key created: {private}  key id {key.key_id}")
    public.write_text(key.verify_key.base64 + "\n", encoding="ascii")
    print(f"public key (trust anchor): {key.verify_key.base64}  -> {public}")
    return 0


def _emit(args: argparse.Namespace) -> int:
    emit(args)
    return 0


def emit(args: argparse.Namespace, say: Callable[[str], None] = print,
         settings: Settings | None = None) -> list[Envelope]:
    """Build, check, journal and publish the events `args.build` makes; the events.

    The console calls this too, with its own `say` and settings, so both write the same
    signed events."""
    settings = settings or load_settings()
    catalog = SchemaCatalog.load()
    operator = _operator(settings)
    journal_path = _journal(settings)
    journal = read_events(journal_path)
    registry = _state(catalog, operator.verify_key, journal)
    first = _next_sequence(journal)
    try:
        envelopes: list[Envelope] = args.build(args, catalog, operator, first)
    except (ValueError, KeyFileError) as err:
        raise RegistryError(str(err)) from err
    envelopes = _numbered(settings, operator, envelopes, first, say)
    wires = [encode_envelope(env) for env in envelopes]
    _check_against(registry, catalog, wires)
    _append(journal_path, wires)
    if args.out:
        _append(args.out, wires)
        say(f"{len(wires)} event(s) written to {args.out}; publish with "
              f"`hubctl registry publish {args.out}`")
    else:
        try:
            _publish(settings, wires, say)
        except ServiceError as err:
            raise ServiceError(f"{err}; they are kept in {journal_path}, send them again "
                               f"with `hubctl registry publish {journal_path}` (the hub "
                               "absorbs any duplicates)") from err
    for env in envelopes:
        say(f"{env.event_type} seq={env.sequence} event_id={env.event_id}")
    _broker_access(args, settings, registry, envelopes, say)
    return envelopes


def _broker_access(args: argparse.Namespace, settings: Settings, registry: Registry,
                   envelopes: list[Envelope], say: Callable[[str], None]) -> None:
    """A registration gets a broker login and its bundle; revoking the last key ends access."""
    from ops import broker_access  # imported late: it loads the Kafka client

    kinds = {env.event_type for env in envelopes}
    participant = str(args.participant_id if "participant_id" in args else "")
    if "participant-registered" in kinds:
        if not participant:
            participant = RegistrationRequest.from_json(
                read_user_bytes(args.request_file, "registration request").decode("utf-8")
            ).participant_id
        bundle = broker_access.grant_access(settings, participant)
        path = args.bundle or (
            args.request_file.with_name(f"{participant}.bundle.json")
            if "request_file" in args else Path(f"{participant}.bundle.json"))
        bundle.save(path)
        say(f"broker login {bundle.principal} created; bundle for {participant}: {path} "
              "(mode 0600: hand it over like a key, the participant runs "
              "`hub-connector join` with it)")
    if "key-revoked" in kinds:
        # _check_against applied the new events to `registry` already.
        now = datetime.now(UTC)
        if not any(k.state_at(now) is KeyState.VALID for k in registry.keys_of(participant)):
            for sentence in broker_access.revoke_access(settings, participant):
                say(f"{participant} has no valid key left: {sentence}")


def _check_against(registry: Registry, catalog: SchemaCatalog, wires: list[bytes]) -> None:
    seen, sequences = MemorySeenEvents(), MemorySequenceTracker()
    for data in wires:
        outcome = verify(data, catalog=catalog, registry=registry, seen=seen,
                         sequences=sequences, now=datetime.now(UTC))
        problem = outcome if isinstance(outcome, Rejected) else apply_registry_event(
            registry, outcome)
        if problem is not None:
            raise RegistryError(f"refused, nothing emitted: {problem.reason}: {problem.detail}")


def _publish_file(args: argparse.Namespace) -> int:
    settings = load_settings()
    wires = read_events(check_readable_file(args.file, "events file"))
    known = {bytes(w) for w in read_events(_journal(settings))}
    _append(_journal(settings), [w for w in wires if w not in known])
    _publish(settings, wires)
    print(f"{len(wires)} event(s) published from {args.file}")
    return 0


def _publish(settings: Settings, wires: list[bytes], say: Callable[[str], None] = print) -> None:
    from kafka import KafkaProducer  # imported late: most sub-commands need no broker

    from hub.topics import topic_name

    topic = topic_name(settings, "registry")
    try:
        producer = KafkaProducer(**settings.kafka_config(), acks="all",
                                 bootstrap_timeout_ms=KAFKA_TIMEOUT_MS,
                                 max_block_ms=KAFKA_TIMEOUT_MS,
                                 request_timeout_ms=KAFKA_TIMEOUT_MS)
    except Exception as err:  # kafka-python raises its own hierarchy and OSErrors
        raise ServiceError(f"cannot reach Kafka at {settings.kafka_bootstrap}: {err}") from err
    try:
        for data in wires:
            producer.send(topic, key=HUB_OPERATOR_ID.encode(), value=data).get(
                timeout=KAFKA_TIMEOUT_MS / 1000)
    except Exception as err:
        raise ServiceError(f"publishing to {topic} failed: {err}") from err
    finally:
        producer.close(timeout=5)
    say(f"published {len(wires)} event(s) to {topic}")


def _show(args: argparse.Namespace) -> int:
    settings = load_settings()
    registry = _state(SchemaCatalog.load(), load_operator_key(settings.data_dir),
                      read_events(_journal(settings)))
    now = datetime.now(UTC)
    for pid, participant in sorted(registry.participants.items()):
        print(f"{pid:<28} {participant.display_name}  jurisdiction={participant.jurisdiction}")
        for key in registry.keys_of(pid):
            print(f"    key {key.key.key_id} {key.state_at(now)} from {key.valid_from:%Y-%m-%d}")
        sealing = registry.encryption_key(pid, now)
        print(f"    encryption key {sealing.key_id if sealing else '- (details cannot be sent)'}")
        print(f"    may publish: {', '.join(registry.permissions_at(pid, now)) or '-'}")
    return 0
