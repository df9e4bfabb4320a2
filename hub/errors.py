"""The project's exception hierarchy: one root, a few precise subclasses."""


class HubError(Exception):
    """Root of every error the project raises on purpose."""


class ConfigError(HubError):
    """A setting is missing or malformed."""


class ServiceError(HubError):
    """A platform service (Kafka broker, PostgreSQL) cannot be installed, started or reached."""


class ToolMissingError(ServiceError):
    """A program the platform needs (java, mvn, pg_ctl ...) is not installed."""


class PortInUseError(ServiceError):
    """A port the platform wants to listen on is already taken by another process."""


class MigrationError(HubError):
    """A schema migration file is malformed or failed to apply."""


class TopicError(HubError):
    """A topic cannot be created or reconciled with its declaration."""
