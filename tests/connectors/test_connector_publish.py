"""Publishing files to the real broker: bad files, an unreachable hub, the watched folder."""

from __future__ import annotations

import csv
import secrets
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from connector_samples import migrant_row, participant_of, write_migrant_csv
from kafka import KafkaConsumer, KafkaProducer, TopicPartition

from connectors.cli import main
from connectors.config import load_config
from connectors.outbox import Outbox
from hub.config import Settings
from hub.envelope import decode_envelope
from hub.topics import TopicSpec
from processors import topic_admin

pytestmark = pytest.mark.services
Reader = Callable[[str], list[tuple[str, Any]]]


def rejects_of(path: Path) -> list[list[str]]:
    with path.with_name(path.name + ".rejects.csv").open(encoding="utf-8-sig") as handle:
        return list(csv.reader(handle))[1:]


class TestBadFiles:
    def test_bad_rows_are_rejected_and_good_rows_go_through(
        self, connector_factory: Callable[..., Path], read_published: Reader,
        capsys: pytest.CaptureFixture[str],
    ) -> None:
        """Bad dates and huge cells are rejected with reasons; flagged ids and valid rows pass."""
        config = connector_factory()
        bad_date = migrant_row(90)
        bad_date[7] = "2024-02-30"
        huge = migrant_row(91)
        huge[1] = "长" * 70000
        bad_id = migrant_row(92)
        bad_id[4] = "110105194912310021"
        source = write_migrant_csv(config.parent / "gbk.csv", 5, encoding="gbk",
                                   extra=[bad_date, huge, bad_id])
        assert main(["publish", "--type", "migrant-record", "--config", str(config),
                     str(source)]) == 1
        err = capsys.readouterr().err
        assert "8 rows: 6 new events, 0 already published, 2 rejected" in err
        assert "sent 6, rejected 2, pending 0" in err
        rejected = rejects_of(source)
        assert [(r[0], r[1]) for r in rejected] == [("7", "moved_in_on"), ("8", "姓名")]
        assert "does not exist" in rejected[0][2] and "70000 characters" in rejected[1][2]
        assert rejected[0][3] == "R000090"
        published = read_published(participant_of(config))
        by_record = {p["record_id"]: p for _, p in published}
        assert sorted(by_record) == [f"R{n:06d}" for n in (1, 2, 3, 4, 5, 92)]
        assert by_record["R000001"]["person"]["name"] == "测试1"
        assert by_record["R000092"]["person"]["id_number_status"] == "INVALID_CHECK_DIGIT"

    @pytest.mark.parametrize(
        ("name", "content", "message"),
        [
            ("empty.csv", b"", "the file is empty"),
            ("photo.csv", b"\x89PNG\r\n\x1a\n" + bytes(range(256)), "PNG image"),
            ("binary.csv", bytes(range(256)) * 4, "not a text table"),
            ("latin.csv", "姓名\n".encode() + b"\x81\x20\xff\n", "neither UTF-8 nor GB18030"),
        ],
    )
    def test_unreadable_files(
        self, connector_factory: Callable[..., Path], capsys: pytest.CaptureFixture[str],
        name: str, content: bytes, message: str,
    ) -> None:
        """Unreadable files are refused with a clear message; the command does not crash."""
        config = connector_factory()
        source = config.parent / name
        source.write_bytes(content)
        assert main(["publish", "--type", "migrant-record", "--config", str(config),
                     str(source)]) == 1
        err = capsys.readouterr().err
        assert "NOT PUBLISHED" in err and message in err
        assert message in rejects_of(source)[0][2]

    def test_missing_required_column(
        self, connector_factory: Callable[..., Path], capsys: pytest.CaptureFixture[str]
    ) -> None:
        """A file without a required column says which, and every row is kept as rejected."""
        config = connector_factory()
        source = config.parent / "nostation.csv"
        source.write_text("登记编号,姓名,户籍地址,现住址,入住日期,登记日期\n"
                          "R1,张三,110105,320102,2024-05-01,2024-05-02\n", encoding="utf-8")
        assert main(["publish", "--type", "migrant-record", "--config", str(config),
                     str(source)]) == 1
        err = capsys.readouterr().err
        assert "no column for registering_station" in err and "登记派出所" in err
        assert rejects_of(source)[0][1] == "registering_station"


class TestUnreachableHub:
    def test_events_wait_in_the_outbox_until_the_hub_answers(
        self, connector_factory: Callable[..., Path], read_published: Reader,
        capsys: pytest.CaptureFixture[str], hub_settings: Settings,
    ) -> None:
        """With no hub, publish stores and reports pending; `send` delivers them later."""
        config = connector_factory(hub="127.0.0.1:9")
        text = config.read_text(encoding="utf-8").replace("connect_timeout_s = 5.0",
                                                          "connect_timeout_s = 1.0")
        config.write_text(text, encoding="utf-8")
        source = write_migrant_csv(config.parent / "a.csv", 20)
        assert main(["publish", "--type", "migrant-record", "--config", str(config),
                     str(source)]) == 0
        assert "sent 0, rejected 0, pending 20" in capsys.readouterr().err
        assert main(["status", "--config", str(config), "--timeout", "0.5"]) == 2
        real = load_config(config)
        reachable = text.replace("127.0.0.1:9", hub_settings.kafka_bootstrap)
        config.write_text(reachable, encoding="utf-8")
        assert main(["send", "--config", str(config)]) == 0
        assert "sent 20 of 20 pending, pending 0" in capsys.readouterr().err
        with Outbox(real.outbox_path) as box:
            assert box.stats().pending == 0
        assert len(read_published(participant_of(config))) == 20


class TestPartition:
    def test_a_publishers_events_go_to_the_partition_its_id_hashes_to(
        self, connector_factory: Callable[..., Path], hub_settings: Settings,
    ) -> None:
        """The sender names the partition itself: the one Kafka's default partitioner gives
        the publisher id, with every event in it in sequence order."""
        config = connector_factory()
        participant = participant_of(config).encode()
        ingest = f"{hub_settings.topic_prefix}ingest"
        consumer = KafkaConsumer(**hub_settings.kafka_config())
        count = len(consumer.partitions_for_topic(ingest))
        # A topic of the same size, where the producer's own partitioner picks for this key.
        probe = TopicSpec(f"probe-{secrets.token_hex(4)}", count)
        topic_admin.apply(hub_settings, [probe])
        producer = KafkaProducer(**hub_settings.kafka_config())
        expected = producer.send(probe.name(hub_settings), key=participant,
                                 value=b"probe").get(timeout=30).partition
        producer.close()
        source = write_migrant_csv(config.parent / "a.csv", 4)
        assert main(["publish", "--type", "migrant-record", "--quiet", "--config", str(config),
                     str(source)]) == 0
        part = TopicPartition(ingest, expected)
        consumer.assign([part])
        consumer.seek_to_beginning(part)
        mine: list[Any] = []
        deadline = time.monotonic() + 30
        while len(mine) < 4 and time.monotonic() < deadline:
            # One poll may come back empty while the consumer is still fetching metadata.
            mine += [r for batch in consumer.poll(timeout_ms=1000).values() for r in batch
                     if r.key == participant]
        consumer.close()
        assert [decode_envelope(r.value).sequence for r in mine] == [1, 2, 3, 4]


class TestWatch:
    def test_files_move_to_done_or_failed(
        self, connector_factory: Callable[..., Path], read_published: Reader
    ) -> None:
        """A dropped good file goes to done/, an unreadable one to failed/."""
        config = connector_factory()
        inbox = config.parent / "drop"
        (inbox / "migrant-record").mkdir(parents=True)
        write_migrant_csv(inbox / "migrant-record" / "good.csv", 3)
        (inbox / "migrant-record" / "bad.csv").write_bytes(b"\x00\x01\x02")
        assert main(["watch", str(inbox), "--once", "--config", str(config)]) == 0
        assert (inbox / "done" / "good.csv").exists()
        assert (inbox / "failed" / "bad.csv").exists()
        assert (inbox / "failed" / "bad.csv.rejects.csv").exists()
        assert len(read_published(participant_of(config))) == 3
