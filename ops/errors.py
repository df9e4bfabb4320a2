"""The platform's own errors: services that cannot start, migrations, the demo (all HubError,
so every command reports them in one line)."""

from __future__ import annotations

from hub.errors import HubError


class ServiceError(HubError):
    """A platform service (Kafka broker, PostgreSQL) cannot be installed, started or reached."""


class ToolMissingError(ServiceError):
    """A program the platform needs (java, mvn, pg_ctl ...) is not installed."""


class PortInUseError(ServiceError):
    """A port the platform wants to listen on is already taken by another process."""


class MigrationError(HubError):
    """A schema migration file is malformed or failed to apply."""


class DemoError(HubError):
    """A step of `hubctl demo` failed (a command exited with an error, a wait timed out)."""


class ReportError(HubError):
    """A report cannot be written: bad dates or output name, no CJK font, no PDF renderer."""
