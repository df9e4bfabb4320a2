"""The console as a process of its own: `launch` starts `hubctl console` and waits until it
answers (for the demo, the browser tests and the benchmark); for `hubctl demo` it is started
detached after the run and recorded in a small file in the demo folder, so that retiring the
run (the next run, or the tests) stops exactly that process."""

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


def launch(hubctl: str, port: int, options: list[str], env: dict[str, str], log: Path, *,
           detached: bool = False, cwd: Path | None = None,
           timeout: float = 120.0) -> subprocess.Popen[bytes]:
    """`hubctl console --port P` with `options`, output to `log`; returns once its login page
    answers. A console that exits or does not answer within `timeout` is killed (never left
    behind) and raises ServiceError naming its log. `detached`: in a session of its own."""
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("ab") as out:
        process = subprocess.Popen(
            [hubctl, "console", "--port", str(port), *options],
            env=env, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            start_new_session=detached, cwd=cwd,
        )
    url = address(port)
    deadline = time.monotonic() + timeout  # a loaded machine takes its time to import it all
    while True:
        try:
            urllib.request.urlopen(f"{url}login", timeout=2).close()
            return process
        except (urllib.error.URLError, ConnectionError) as err:
            if process.poll() is not None or time.monotonic() > deadline:
                process.kill()
                process.wait(timeout=10)
                raise ServiceError(f"the console did not start ({err}); see {log}") from err
            time.sleep(0.3)


def start(hubctl: str, env: dict[str, str], record: Path, registry_dir: Path,
          log: Path) -> Detached:
    """`hubctl console` in its own session, on port 8470 when free; waits until it answers."""
    port = DEFAULT_PORT if _port_free(DEFAULT_PORT) else _free_port()
    process = launch(hubctl, port, ["--registry-dir", str(registry_dir)], env, log,
                     detached=True)
    url = address(port)
    record.parent.mkdir(parents=True, exist_ok=True)
    record.write_text(json.dumps({"pid": process.pid, "url": url}), encoding="utf-8")
    return Detached(process.pid, url, log)
