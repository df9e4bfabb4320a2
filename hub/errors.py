"""The project's exception hierarchy: one root, a few precise subclasses."""


class HubError(Exception):
    """Root of every error the project raises on purpose."""


class ConfigError(HubError):
    """A setting is missing or malformed."""


class PathError(ConfigError):
    """A path a person gave is missing, unreadable or not the kind of file expected."""


class TopicError(HubError):
    """A topic cannot be created or reconciled with its declaration."""


class ConnectorError(HubError):
    """The province connector cannot do what was asked (configuration, state, transport)."""


class InputFileError(ConnectorError):
    """A whole input file cannot be read: empty, binary, unknown encoding or format."""


class MappingError(ConnectorError):
    """A column-mapping file is missing, malformed or names unknown schema fields."""


class OutboxError(ConnectorError):
    """The connector's local outbox cannot be opened or is inconsistent."""


class MatchingInputError(HubError):
    """Facts handed to the matcher are malformed (the message names the field and reason)."""


class MatchingModelError(HubError):
    """A matching weights file or allele-frequency table is missing or malformed."""


class StoreError(HubError):
    """The event store or a projection store refused or failed an operation."""


class StoreUnavailable(StoreError):
    """The database behind a store cannot be reached right now; retry later."""


class ProjectionError(HubError):
    """A projection is misdefined or was asked for something it does not have."""


class SchemaError(HubError):
    """A schema file is missing, malformed, or breaks the evolution rules."""


class UnknownSchemaError(SchemaError):
    """No schema is known for an event type, version or fingerprint."""


class PayloadError(HubError):
    """A payload does not fit its schema; `problems` names each field and reason."""

    def __init__(self, message: str, problems: list[object] | None = None) -> None:
        super().__init__(message)
        self.problems = list(problems or [])


class EnvelopeError(HubError):
    """Wire bytes are not a well-formed envelope."""


class KeyFileError(HubError):
    """A key file cannot be read, written, or holds no usable key."""


class RegistryError(HubError):
    """A registry event cannot be applied to the registry's current state."""


class RoutingError(HubError):
    """A match cannot be routed: a recipient or area code is not what routing needs."""


class SealError(HubError):
    """Sealed personal data that does not open: wrong key, altered bytes, or moved elsewhere."""


class CaseShredded(SealError):
    """The case's data key was destroyed: its personal data can no longer be read."""
