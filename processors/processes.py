"""Process plumbing shared by the hub's services and its pipeline workers: tools, ports, pid files,
detached start and stop."""

from __future__ import annotations

import contextlib
import os
import random
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

from hub.errors import HubError
from hub.secrets import make_private_dirs


class ServiceError(HubError):
    """A platform service (Kafka broker, PostgreSQL) cannot be installed, started or reached."""


class ToolMissingError(ServiceError):
    """A program the platform needs (java, mvn, pg_ctl ...) is not installed."""


class PortInUseError(ServiceError):
    """A port the platform wants to listen on is already taken by another process."""


INSTALL_HINT = "run `bash ops/bootstrap` (as root it installs the missing packages with apt-get)"


def require_tool(name: str, what: str) -> str:
    """The absolute path of program `name`, or a ToolMissingError saying what it is for."""
    found = shutil.which(name)
    if found is None:
        raise ToolMissingError(
            f"`{name}` not found on PATH; it is needed for {what}; {INSTALL_HINT}"
        )
    return found


def port_answers(host: str, port: int, timeout: float = 0.5) -> bool:
    """True when something accepts TCP connections on host:port."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def listener_description(port: int) -> str:
    """Best-effort 'pid/program' of whoever listens on `port`, for error messages."""
    ss = shutil.which("ss")
    if ss is None:
        return "an unknown process"
    try:
        out = subprocess.run(
            [ss, "-Hltnp", f"sport = :{port}"], capture_output=True, text=True, timeout=5
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "an unknown process"
    if "users:" in out:
        return out[out.index("users:") :]
    return "an unknown process"


# Ports handed to private test services come from below the kernel's ephemeral range: a port
# the kernel picked for `bind(0)` goes back into that range when closed, where the next outgoing
# connection (of any client on the machine) may take it before our broker binds it.
PRIVATE_PORTS = range(10000, 25000)


def free_ports(count: int, host: str = "127.0.0.1") -> list[int]:
    """`count` distinct ports nobody listens on right now (for a private broker or cluster).

    Chosen at random below the ephemeral range and each checked by binding it, so two callers
    seldom pick the same port and no outgoing connection takes one before the service binds.
    """
    chosen: list[int] = []
    candidates = random.sample(PRIVATE_PORTS, len(PRIVATE_PORTS))
    for port in candidates:
        if len(chosen) == count:
            break
        with socket.socket() as sock:
            try:
                sock.bind((host, port))
            except OSError:
                continue
        if not port_answers(host, port, timeout=0.2):
            chosen.append(port)
    if len(chosen) < count:
        raise ServiceError(f"fewer than {count} free ports in {PRIVATE_PORTS} on {host}")
    return chosen


def write_pid_file(pid_file: Path, pid: int) -> None:
    """Write `pid` so that a reader never sees a half-written file (write, then rename)."""
    partial = pid_file.with_name(pid_file.name + ".new")
    partial.write_text(f"{pid}\n")
    partial.replace(pid_file)


def ensure_port_free(host: str, port: int, service: str) -> None:
    """Raise PortInUseError when another process already listens where `service` must."""
    if port_answers(host, port):
        raise PortInUseError(
            f"{service} cannot start: {host}:{port} is already taken by "
            f"{listener_description(port)}; stop that process or choose another port "
            f"through the HUB_* environment variables (see hub/config.py)"
        )


def pid_alive(pid: int) -> bool:
    """True when `pid` exists and is not a zombie waiting to be reaped."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True
    # The state letter follows the parenthesised command name, which may contain spaces.
    return stat[stat.rindex(")") + 2 :].split(" ", 1)[0] != "Z"


def read_pid(pid_file: Path, expect: str | None = None) -> int | None:
    """The pid stored in `pid_file` when that process still runs, else None.

    With `expect`, the process's command line must also contain that text: after a reboot a
    stale pid file may name an unrelated process that happens to have the same pid.
    """
    try:
        first = pid_file.read_text().split("\n", 1)[0].strip()
        pid = int(first)
    except (OSError, ValueError):
        return None
    if not pid_alive(pid):
        return None
    if expect is not None:
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ")
        except OSError:
            return pid
        if expect.encode() not in cmdline:
            return None
    return pid


def spawn_detached(
    argv: Sequence[str], log_file: Path, env: Mapping[str, str] | None = None
) -> int:
    """Start `argv` in its own session (it outlives the caller), output to `log_file`.

    The log is created readable by its owner only, in a folder made 0700 if missing: a
    worker's or a service's errors can quote the data they failed on.
    """
    make_private_dirs(log_file.parent)
    fd = os.open(log_file, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    with os.fdopen(fd, "ab") as log:
        proc = subprocess.Popen(
            list(argv),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            env=dict(env) if env is not None else None,
            close_fds=True,
        )
    return proc.pid


def stop_process_group(pid: int, timeout: float = 30.0) -> bool:
    """SIGTERM the process group led by `pid`, SIGKILL after `timeout`; True if it stopped."""
    try:
        os.killpg(pid, signal.SIGTERM)
    except ProcessLookupError:
        return True
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        _reap(pid)
        if not pid_alive(pid):
            return True
        time.sleep(0.2)
    try:
        os.killpg(pid, signal.SIGKILL)
    except ProcessLookupError:
        return True
    time.sleep(0.5)
    _reap(pid)
    return not pid_alive(pid)


def _reap(pid: int) -> None:
    # When this very process started the service (e.g. a test session), the dead child must be
    # reaped or it lingers as a zombie and looks alive.
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)


def run_checked(
    argv: Sequence[str], what: str, timeout: float = 600.0, *, secret_args: bool = False
) -> str:
    """Run a command to completion; on failure raise ServiceError with its output's tail.

    With `secret_args` the command line (which holds passwords) is left out of the error.
    """
    shown = f"{argv[0]} ..." if secret_args else " ".join(argv)
    try:
        done = subprocess.run(
            list(argv), capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL
        )
    except subprocess.TimeoutExpired as err:
        raise ServiceError(
            f"{what} did not finish within {timeout:.0f}s: {shown}"
        ) from err
    if done.returncode != 0:
        tail = "\n".join((done.stdout + done.stderr).strip().splitlines()[-15:])
        raise ServiceError(f"{what} failed (exit {done.returncode}): {shown}\n{tail}")
    return done.stdout
