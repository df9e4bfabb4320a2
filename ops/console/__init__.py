"""The operator console: a small web application served on loopback by `hubctl console`.

Thin by design: every figure comes from the same store, status and registry code the `hubctl`
commands use; this package adds logins, sessions, the audit log and the pages.
"""

from ops.console.accounts import ConsoleError
from ops.console.web import create_app

__all__ = ["ConsoleError", "create_app"]
