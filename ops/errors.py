"""The platform's own errors: services that cannot start, migrations, the demo (all HubError,
so every command reports them in one line)."""

from __future__ import annotations

from hub.errors import HubError

# Raised by the process plumbing the services share with the pipeline workers; named here too
# so that every platform error is found in one place.
from processors.processes import PortInUseError, ServiceError, ToolMissingError

__all__ = [
    "DemoError", "MigrationError", "PortInUseError", "ReportError", "ServiceError",
    "ToolMissingError",
]


class MigrationError(HubError):
    """A schema migration file is malformed or failed to apply."""


class DemoError(HubError):
    """A step of `hubctl demo` failed (a command exited with an error, a wait timed out)."""


class ReportError(HubError):
    """A report cannot be written: bad dates or output name, no CJK font, no PDF renderer."""
