"""Shares of a job in forked processes (ops.forked), and the batch matcher run that way."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from hub.matching.batch import in_turn, run_batch
from hub.matching.matcher import Matcher
from hub.matching.model import FellegiSunterModel
from ops.forked import ShareFailedError, run_forked
from synthetic import generate
from synthetic.files import write_dataset


def _share_and_pid(share: int) -> tuple[int, int]:
    return share, os.getpid()


class TestRunForked:
    def test_results_come_back_in_share_order(self) -> None:
        """Share 0 runs in this process, the others each in a child; results in share order."""
        results = run_forked(_share_and_pid, 3)
        assert [share for share, _ in results] == [0, 1, 2]
        pids = [pid for _, pid in results]
        assert pids[0] == os.getpid() and len(set(pids)) == 3

    def test_a_share_that_raises_is_reported_with_its_traceback(self) -> None:
        """An exception in a child comes back as ShareFailedError naming the share and error."""

        def work(share: int) -> int:
            if share == 1:
                raise ValueError("bad share")
            return share

        with pytest.raises(ShareFailedError, match=r"share 1 failed(.|\n)*ValueError: bad share"):
            run_forked(work, 2)

    def test_a_share_that_dies_is_reported_with_its_exit_code(self) -> None:
        """A child that exits without a result is an error, not a missing share."""

        def work(share: int) -> int:
            if share == 2:
                os._exit(3)
            return share

        with pytest.raises(ShareFailedError, match="share 2 died \\(exit code 3\\)"):
            run_forked(work, 3)


def test_batch_pairs_are_the_same_in_one_process_and_in_several(tmp_path: Path) -> None:
    """hubctl match's engine writes the same pairs file, row for row, and the same counts and
    input problems, whether the alerts are searched here or in three forked processes."""
    data = generate(1600, 5)
    paths = write_dataset(tmp_path, data, "jsonl")
    with paths["alerts"].open("a", encoding="utf-8") as handle:
        bad_sex = {"alert_id": "A-BAD", "person": {"sex": "X"}}
        handle.write("not json\n" + json.dumps(bad_sex) + "\n")
    # A bad line halfway through the records: its message keeps its place among the others.
    lines = paths["records"].read_text(encoding="utf-8").splitlines(keepends=True)
    lines.insert(len(lines) // 2, '{"record_id": ""}\n')
    paths["records"].write_text("".join(lines), encoding="utf-8")
    matcher = Matcher(FellegiSunterModel.default())
    files = (paths["alerts"], paths["records"], paths["rescues"])
    alone = run_batch(matcher, *files, tmp_path / "alone.csv", True, jobs=1, runner=in_turn)
    forked = run_batch(matcher, *files, tmp_path / "forked.csv", True, jobs=3, runner=run_forked)
    assert alone.rows_written > 1000 and alone.notify > 10
    assert len(alone.errors) == 3 and "field record_id: missing" in alone.errors[0]
    assert forked == alone
    assert (tmp_path / "forked.csv").read_bytes() == (tmp_path / "alone.csv").read_bytes()
    assert sorted(p.name for p in tmp_path.iterdir() if ".part" in p.name) == []
