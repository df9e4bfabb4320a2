"""The health report of one service."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ServiceStatus:
    """Whether one service answers, where it listens and what the check saw."""

    name: str
    healthy: bool
    address: str
    pid: int | None
    detail: str
    started: bool = False

    def line(self) -> str:
        state = "healthy" if self.healthy else "UNHEALTHY"
        pid = f"pid {self.pid}" if self.pid is not None else "not running"
        action = " (started now)" if self.started else ""
        return f"{self.name:<10} {state:<9} {self.address:<22} {pid}{action}: {self.detail}"
