"""The console as a detached process, for `hubctl demo`: started after the run and recorded in
a small file in the demo folder, so that retiring the run (the next run, or the tests) stops
exactly that process."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from ops.console.loopback import address
from ops.errors import ServiceError

DEFAULT_PORT = 8470
RECORD = "console.json"


@dataclass(frozen=True)
class Detached:
    """A console started in the background."""

    pid: int
    url: str
    log: Path


def _port_free(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def stop(path: Path) -> str | None:
    """Stop the console recorded in `path`, if it still runs; what was done."""
    if not path.exists():
        return None
    try:
        pid = int(json.loads(path.read_text(encoding="utf-8"))["pid"])
    except (ValueError, KeyError, OSError):
        path.unlink(missing_ok=True)
        return None
    path.unlink(missing_ok=True)
    cmdline = Path(f"/proc/{pid}/cmdline")
    # Only a process that is still our console: the pid may have been reused since.
    if not cmdline.exists() or b"console" not in cmdline.read_bytes():
        return None
    os.kill(pid, signal.SIGTERM)
    for _ in range(50):
        if not cmdline.exists():
            break
        time.sleep(0.1)
    return f"stopped the previous console (pid {pid})"


def start(hubctl: str, env: dict[str, str], record: Path, registry_dir: Path,
          log: Path) -> Detached:
    """`hubctl console` in its own session, on port 8470 when free; waits until it answers."""
    port = DEFAULT_PORT if _port_free(DEFAULT_PORT) else _free_port()
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("ab") as out:
        process = subprocess.Popen(
            [hubctl, "console", "--port", str(port), "--registry-dir", str(registry_dir)],
            env=env, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
    url = address(port)
    deadline = time.monotonic() + 120  # a loaded machine takes its time to import it all
    while True:
        try:
            urllib.request.urlopen(f"{url}login", timeout=2).close()
            break
        except (urllib.error.URLError, ConnectionError) as err:
            if process.poll() is not None or time.monotonic() > deadline:
                process.kill()
                raise ServiceError(f"the console did not start ({err}); see {log}") from err
            time.sleep(0.3)
    record.parent.mkdir(parents=True, exist_ok=True)
    record.write_text(json.dumps({"pid": process.pid, "url": url}), encoding="utf-8")
    return Detached(process.pid, url, log)
