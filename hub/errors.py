"""The project's exception hierarchy: one root, a few precise subclasses."""


class HubError(Exception):
    """Root of every error the project raises on purpose."""


class ConfigError(HubError):
    """A setting is missing or malformed."""
