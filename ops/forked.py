"""Work run side by side in processes forked from this one.

`run_forked`: shares of one job. Forked after a large read-only structure is built (the batch
matcher's index), each child reads it through copy-on-write pages instead of building its own.
Share 0 runs in this process, so `jobs` shares take `jobs` processes in all.

`stream_forked`: a producer of items (the batch matcher's file reading) in a child, while this
process uses the items as they come.
"""

from __future__ import annotations

import multiprocessing
import traceback
from collections.abc import Callable, Iterable, Iterator
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


def stream_forked(produce: Callable[[], Iterable[T]], chunk: int = 1000) -> Iterator[T]:
    """The items of produce(), in order, made in a forked child `chunk` at a time while this
    process takes the previous ones."""
    context = multiprocessing.get_context("fork")
    receiver, sender = context.Pipe(duplex=False)
    child = context.Process(target=_produce, args=(produce, sender, chunk), daemon=True)
    child.start()
    sender.close()
    try:
        while True:
            try:
                kind, value = receiver.recv()
            except EOFError:
                child.join()
                raise ShareFailedError(
                    f"the producing child died (exit code {child.exitcode})"
                ) from None
            if kind == "failed":
                raise ShareFailedError(f"the producing child failed:\n{value}")
            if kind == "done":
                return
            yield from value
    finally:
        receiver.close()
        if child.is_alive():
            child.terminate()
        child.join()


def _produce(produce: Callable[[], Iterable[T]], sender: Connection, chunk: int) -> None:
    try:
        items: list[T] = []
        for item in produce():
            items.append(item)
            if len(items) >= chunk:
                sender.send(("items", items))
                items = []
        sender.send(("items", items))
        sender.send(("done", None))
    except BaseException:  # reported to the parent, which raises it as ShareFailedError
        sender.send(("failed", traceback.format_exc()))
    sender.close()
