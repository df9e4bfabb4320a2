"""hubctl console: the operator web console on loopback, and its operators."""

from __future__ import annotations

import argparse
from datetime import timedelta
from pathlib import Path

from hub.config import load_settings
from ops.console.accounts import ROLES, SESSION_LIFETIME, Accounts
from ops.console.loopback import LOOPBACK, address

DEFAULT_PORT = 8470


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add `console` to the hubctl parser."""
    parser = subparsers.add_parser(
        "console",
        help="serve the operator web console on loopback; manage its operators",
        description="Serve the operator console on 127.0.0.1 only (reach it from elsewhere "
        "through an SSH tunnel). Operators log in with accounts made by `hubctl console user`.",
    )
    parser.add_argument("--port", type=int, default=DEFAULT_PORT,
                        help=f"port on 127.0.0.1 (default {DEFAULT_PORT})")
    parser.add_argument("--session-minutes", type=float,
                        default=SESSION_LIFETIME.total_seconds() / 60,
                        help="a login lasts this long (default 30)")
    parser.add_argument("--refresh", type=float, default=5.0, metavar="SECONDS",
                        help="how often the overview's figures are retaken (default 5)")
    parser.add_argument("--registry-dir", type=Path, metavar="DIR",
                        help="where the hub operator key and registry journal are, for "
                        "revoking and withdrawing (default: the data directory)")
    parser.set_defaults(handler=_serve)
    actions = parser.add_subparsers(dest="action", metavar="ACTION")
    user = actions.add_parser("user", help="add, disable or reset a console operator")
    users = user.add_subparsers(dest="user_action", metavar="ACTION", required=True)
    add = users.add_parser("add", help="create an operator; prints a one-time password")
    add.add_argument("username")
    add.add_argument("--role", choices=ROLES, default="operator",
                     help="operator acts, auditor only reads (default operator)")
    add.set_defaults(handler=_add)
    disable = users.add_parser("disable", help="refuse an operator's logins, end their sessions")
    disable.add_argument("username")
    disable.set_defaults(handler=_disable)
    reset = users.add_parser("reset", help="a new one-time password (enables again)")
    reset.add_argument("username")
    reset.set_defaults(handler=_reset)
    users.add_parser("list", help="the operators and their roles").set_defaults(handler=_list)


def _accounts() -> Accounts:
    return Accounts(load_settings().pg_dsn)


def _add(args: argparse.Namespace) -> int:
    accounts = _accounts()
    try:
        password = accounts.add(args.username, args.role)
    finally:
        accounts.close()
    print(f"operator {args.username} ({args.role}) created; one-time password: {password}")
    print("it must be changed at the first login")
    return 0


def _disable(args: argparse.Namespace) -> int:
    accounts = _accounts()
    try:
        accounts.disable(args.username)
    finally:
        accounts.close()
    print(f"operator {args.username} disabled; their sessions ended")
    return 0


def _reset(args: argparse.Namespace) -> int:
    accounts = _accounts()
    try:
        password = accounts.reset(args.username)
    finally:
        accounts.close()
    print(f"one-time password for {args.username}: {password} (their sessions ended)")
    return 0


def _list(args: argparse.Namespace) -> int:
    accounts = _accounts()
    try:
        found = accounts.operators()
    finally:
        accounts.close()
    for op in found:
        state = f"disabled {op.disabled_at:%Y-%m-%d %H:%M}" if op.disabled_at else "active"
        print(f"{op.username:<24} {op.role:<9} {state}")
    if not found:
        print("no console operators; add one with `hubctl console user add NAME`")
    return 0


def _serve(args: argparse.Namespace) -> int:
    import uvicorn

    from ops.console import create_app
    from ops.errors import ServiceError

    if not 1 <= args.port <= 65535:
        raise ServiceError(f"--port {args.port} is not a port number")
    if args.session_minutes <= 0 or args.refresh <= 0:
        raise ServiceError("--session-minutes and --refresh must be above 0")
    app = create_app(load_settings(),
                     session_lifetime=timedelta(minutes=args.session_minutes),
                     status_every=args.refresh, registry_dir=args.registry_dir)
    print(f"operator console on {address(args.port)} (Ctrl-C stops it)", flush=True)
    # Loopback only, by design: there is no option to listen elsewhere.
    uvicorn.run(app, host=LOOPBACK, port=args.port, log_level="warning",
                server_header=False, proxy_headers=False)
    return 0
