"""Typed, frozen settings read from the environment in one place.

Secrets are not settings: passwords live in files of mode 0600 under `secrets_dir` (created by
the first `hubctl services up`) and are read when a connection is made, so printing or handing
settings to another process never carries them.
"""

from __future__ import annotations

import json
import os
import ssl
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from hub.errors import ConfigError
from hub.response import ResponseRules
from hub.secrets import read_secret

PROJECT_ROOT = Path(__file__).resolve().parent.parent

# PostgreSQL roles: the owner runs migrations; the pipeline may only append to the event store;
# the reader (reports, console) may only read.
PG_OWNER = "hub_owner"
PG_PIPELINE = "hub"
PG_READER = "hub_reader"
PG_ROLES = (PG_OWNER, PG_PIPELINE, PG_READER)

# Kafka principals of the hub itself (super users); participants get their own at registration.
KAFKA_ADMIN = "hub-admin"
KAFKA_PIPELINE = "hub-pipeline"
KAFKA_BROKER = "hub-broker"
KAFKA_SUPER_USERS = (KAFKA_ADMIN, KAFKA_PIPELINE, KAFKA_BROKER)
SASL_MECHANISM = "SCRAM-SHA-512"

DEFAULT_SECRETS_DIR = PROJECT_ROOT / ".data" / "secrets"
_SERVICES_HINT = "run `hubctl services up` first (it creates the hub's secrets)"


@dataclass(frozen=True)
class KafkaAccess:
    """How one client reaches the broker: TLS against the hub's CA, SCRAM as one principal."""

    bootstrap: str
    ca_file: Path
    username: str
    password_file: Path

    @property
    def password(self) -> str:
        return read_secret(self.password_file, _SERVICES_HINT)

    def _login(self) -> dict[str, Any]:
        # The same keyword names in kafka-python and aiokafka.
        return {
            "bootstrap_servers": self.bootstrap,
            "security_protocol": "SASL_SSL",
            "sasl_mechanism": SASL_MECHANISM,
            "sasl_plain_username": self.username,
            "sasl_plain_password": self.password,
        }

    def kafka_python(self) -> dict[str, Any]:
        """Keyword arguments for any kafka-python client (producer, consumer, admin)."""
        return {**self._login(), "ssl_cafile": str(self.ca_file)}

    def ssl_context(self) -> ssl.SSLContext:
        """A client TLS context trusting only the hub's CA (for aiokafka and Faust)."""
        if not self.ca_file.exists():
            raise ConfigError(f"no CA certificate at {self.ca_file}; {_SERVICES_HINT}")
        return ssl.create_default_context(cafile=str(self.ca_file))

    def aiokafka(self) -> dict[str, Any]:
        """Keyword arguments for aiokafka clients."""
        return {**self._login(), "ssl_context": self.ssl_context()}


def _int(env: dict[str, str], name: str, default: int) -> int:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError as err:
        raise ConfigError(f"{name} must be a whole number, got {raw!r}") from err


def _float(env: dict[str, str], name: str, default: float, *, positive: bool = False) -> float:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = float(raw)
    except ValueError as err:
        raise ConfigError(f"{name} must be a number, got {raw!r}") from err
    if positive and value <= 0:
        raise ConfigError(f"{name} must be more than 0, got {raw!r}")
    return value


@dataclass(frozen=True)
class Settings:
    """Where the hub's services live and how its names are prefixed."""

    data_dir: Path
    secrets_dir: Path = DEFAULT_SECRETS_DIR
    kafka_host: str = "127.0.0.1"
    kafka_port: int = 29092
    kafka_controller_port: int = 29093
    kafka_user: str = KAFKA_ADMIN
    # Client ports of the other brokers of a three-broker cluster on the same host (empty for
    # one broker): clients bootstrap from all, so any one may be down when a client starts.
    kafka_peer_ports: tuple[int, ...] = ()
    pg_host: str = "127.0.0.1"
    pg_port: int = 25432
    pg_user: str = PG_PIPELINE
    pg_database: str = "hub"
    topic_prefix: str = "hub."
    # The matcher's allele tables (a table directory or a directory of them; None: the shipped
    # one) and the θ (F_ST) correction of its likelihood ratios.
    allele_tables: Path | None = None
    dna_theta: float = 0.01
    # Reply and decision deadlines of hits, in seconds (hub.response); the deadlines a hit got
    # are kept in its match-found event, so changing these never moves an existing one.
    ack_urgent_child_s: int = 3600
    ack_other_s: int = 12 * 3600
    decide_urgent_child_s: int = 12 * 3600
    decide_other_s: int = 72 * 3600
    # How often the deadline sweep looks for overdue duties.
    sweep_every_s: float = 30.0
    # A rescue case whose data key sealed nothing new for this many days is crypto-shredded
    # (hub.atrest; 0 keeps every case).
    case_retention_days: float = 3650.0

    @property
    def response_rules(self) -> ResponseRules:
        """The deadline rules these settings give (checked: every duration positive)."""
        try:
            return ResponseRules(self.ack_urgent_child_s, self.ack_other_s,
                                 self.decide_urgent_child_s, self.decide_other_s)
        except ValueError as err:
            raise ConfigError(f"reply deadlines: {err}") from err

    @property
    def kafka_bootstrap(self) -> str:
        """Every broker's address, comma-separated (the first broker's alone when single)."""
        ports = (self.kafka_port, *self.kafka_peer_ports)
        return ",".join(f"{self.kafka_host}:{port}" for port in ports)

    @property
    def ca_file(self) -> Path:
        """The hub CA's certificate (PEM), which every Kafka client trusts."""
        return self.secrets_dir / "tls" / "ca.pem"

    def kafka_secret_file(self, username: str) -> Path:
        return self.secrets_dir / f"kafka-{username}.secret"

    def pg_secret_file(self, role: str) -> Path:
        return self.secrets_dir / f"pg-{role}.secret"

    @property
    def kafka(self) -> KafkaAccess:
        """This process's access to the broker, as `kafka_user`."""
        return KafkaAccess(
            self.kafka_bootstrap, self.ca_file, self.kafka_user,
            self.kafka_secret_file(self.kafka_user),
        )

    def kafka_config(self) -> dict[str, Any]:
        """kafka-python keyword arguments (address, TLS, SCRAM) for this process's principal."""
        return self.kafka.kafka_python()

    def dsn_as(self, role: str) -> str:
        """A libpq connection string for this database as `role` (password from its file)."""
        password = read_secret(self.pg_secret_file(role), _SERVICES_HINT)
        return (
            f"host={self.pg_host} port={self.pg_port} dbname={self.pg_database} "
            f"user={role} password={password}"
        )

    @property
    def pg_dsn(self) -> str:
        """The connection string of `pg_user` (the pipeline role unless overridden)."""
        return self.dsn_as(self.pg_user)

    @property
    def pg_owner_dsn(self) -> str:
        """The owner role's connection string: migrations and database administration."""
        return self.dsn_as(PG_OWNER)

    @property
    def pg_reader_dsn(self) -> str:
        """The read-only role's connection string: reports and the console."""
        return self.dsn_as(PG_READER)

    def with_overrides(self, **changes: object) -> Settings:
        """A copy with some settings replaced (for command-line arguments and tests)."""
        return replace(self, **changes)  # type: ignore[arg-type]

    def as_environment(self) -> dict[str, str]:
        """The HUB_* variables that make another process load exactly these settings."""
        return {
            "HUB_DATA_DIR": str(self.data_dir),
            "HUB_SECRETS_DIR": str(self.secrets_dir),
            "HUB_KAFKA_HOST": self.kafka_host,
            "HUB_KAFKA_PORT": str(self.kafka_port),
            "HUB_KAFKA_CONTROLLER_PORT": str(self.kafka_controller_port),
            "HUB_KAFKA_USER": self.kafka_user,
            "HUB_KAFKA_PEER_PORTS": ",".join(str(port) for port in self.kafka_peer_ports),
            "HUB_PG_HOST": self.pg_host,
            "HUB_PG_PORT": str(self.pg_port),
            "HUB_PG_USER": self.pg_user,
            "HUB_PG_DATABASE": self.pg_database,
            "HUB_TOPIC_PREFIX": self.topic_prefix,
            "HUB_ALLELE_TABLES": str(self.allele_tables or ""),
            "HUB_DNA_THETA": repr(self.dna_theta),
            "HUB_ACK_URGENT_CHILD_S": str(self.ack_urgent_child_s),
            "HUB_ACK_OTHER_S": str(self.ack_other_s),
            "HUB_DECIDE_URGENT_CHILD_S": str(self.decide_urgent_child_s),
            "HUB_DECIDE_OTHER_S": str(self.decide_other_s),
            "HUB_SWEEP_EVERY_S": str(self.sweep_every_s),
            "HUB_CASE_RETENTION_DAYS": repr(self.case_retention_days),
        }

    def __str__(self) -> str:
        return (
            f"kafka={self.kafka_bootstrap} as {self.kafka_user} (TLS, SCRAM) "
            f"postgres={self.pg_host}:{self.pg_port}/{self.pg_database} user={self.pg_user} "
            f"prefix={self.topic_prefix!r} secrets in {self.secrets_dir}"
        )


def _peer_ports(env: dict[str, str], data_dir: Path) -> tuple[int, ...]:
    """HUB_KAFKA_PEER_PORTS, else the peers that `hubctl services up --brokers 3` recorded."""
    raw = env.get("HUB_KAFKA_PEER_PORTS")
    if raw is not None:
        try:
            return tuple(int(part) for part in raw.split(",") if part.strip())
        except ValueError as err:
            raise ConfigError(
                f"HUB_KAFKA_PEER_PORTS must be port numbers separated by commas, got {raw!r}"
            ) from err
    recorded = data_dir / "kafka" / "cluster.json"
    try:
        nodes = json.loads(recorded.read_text(encoding="utf-8"))["nodes"]
        return tuple(int(node["port"]) for node in nodes[1:])
    except FileNotFoundError:
        return ()
    except (OSError, ValueError, KeyError, TypeError) as err:
        raise ConfigError(f"{recorded} cannot be read: {err!r}") from err


def load_settings(env: dict[str, str] | None = None) -> Settings:
    """Settings from HUB_* environment variables, with loopback defaults.

    The secrets folder does not follow HUB_DATA_DIR: commands that keep their own data dir (a
    demo's registry journal, a benchmark's broker) still talk to the same services.
    """
    env = dict(os.environ) if env is None else env
    data_dir = Path(env.get("HUB_DATA_DIR") or PROJECT_ROOT / ".data")
    return Settings(
        data_dir=data_dir,
        secrets_dir=Path(env.get("HUB_SECRETS_DIR") or DEFAULT_SECRETS_DIR),
        kafka_host=env.get("HUB_KAFKA_HOST", "127.0.0.1"),
        kafka_port=_int(env, "HUB_KAFKA_PORT", 29092),
        kafka_controller_port=_int(env, "HUB_KAFKA_CONTROLLER_PORT", 29093),
        kafka_user=env.get("HUB_KAFKA_USER", KAFKA_ADMIN),
        kafka_peer_ports=_peer_ports(env, data_dir),
        pg_host=env.get("HUB_PG_HOST", "127.0.0.1"),
        pg_port=_int(env, "HUB_PG_PORT", 25432),
        pg_user=env.get("HUB_PG_USER", PG_PIPELINE),
        pg_database=env.get("HUB_PG_DATABASE", "hub"),
        topic_prefix=env.get("HUB_TOPIC_PREFIX", "hub."),
        allele_tables=Path(env["HUB_ALLELE_TABLES"]) if env.get("HUB_ALLELE_TABLES") else None,
        dna_theta=_float(env, "HUB_DNA_THETA", 0.01),
        ack_urgent_child_s=_int(env, "HUB_ACK_URGENT_CHILD_S", 3600),
        ack_other_s=_int(env, "HUB_ACK_OTHER_S", 12 * 3600),
        decide_urgent_child_s=_int(env, "HUB_DECIDE_URGENT_CHILD_S", 12 * 3600),
        decide_other_s=_int(env, "HUB_DECIDE_OTHER_S", 72 * 3600),
        sweep_every_s=_float(env, "HUB_SWEEP_EVERY_S", 30.0, positive=True),
        case_retention_days=_float(env, "HUB_CASE_RETENTION_DAYS", 3650.0),
    )
