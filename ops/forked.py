"""Shares of one job run side by side in processes forked from this one.

Forked after a large read-only structure is built (the batch matcher's index), each child reads
it through copy-on-write pages instead of building its own. Share 0 runs in this process, so
`jobs` shares take `jobs` processes in all.
"""

from __future__ import annotations

import multiprocessing
import traceback
from collections.abc import Callable
from multiprocessing.connection import Connection
from multiprocessing.context import ForkProcess
from typing import TypeVar, cast

from hub.errors import HubError

T = TypeVar("T")


class ShareFailedError(HubError):
    """A forked share of a job raised or died; the message carries its traceback or exit code."""


def run_forked(work: Callable[[int], T], shares: int) -> list[T]:
    """work(0) here and work(1) .. work(shares - 1) in forked children; results in share order."""
    context = multiprocessing.get_context("fork")
    children: list[tuple[ForkProcess, Connection]] = []
    try:
        for share in range(1, shares):
            receiver, sender = context.Pipe(duplex=False)
            child = context.Process(target=_child, args=(work, share, sender), daemon=True)
            child.start()
            sender.close()
            children.append((child, receiver))
        results = [work(0)]
        for share, (child, receiver) in enumerate(children, start=1):
            # What work(share) returned in the child.
            results.append(cast(T, _collect(share, child, receiver)))
        return results
    finally:
        for child, receiver in children:
            receiver.close()
            if child.is_alive():
                child.terminate()
            child.join()


def _child(work: Callable[[int], T], share: int, sender: Connection) -> None:
    try:
        outcome: tuple[bool, object] = (True, work(share))
    except BaseException:  # reported to the parent, which raises it as ShareFailedError
        outcome = (False, traceback.format_exc())
    sender.send(outcome)
    sender.close()


def _collect(share: int, child: ForkProcess, receiver: Connection) -> object:
    try:
        done, value = receiver.recv()
    except EOFError:
        child.join()
        raise ShareFailedError(f"share {share} died (exit code {child.exitcode})") from None
    child.join()
    if not done:
        raise ShareFailedError(f"share {share} failed:\n{value}")
    return value
