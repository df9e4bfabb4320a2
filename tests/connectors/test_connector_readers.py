"""Streaming readers and encoding detection."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest
from openpyxl import Workbook

from connectors.encoding import detect_encoding
from connectors.readers import read_rows
from hub.errors import InputFileError

TEXT = "姓名,出生日期\n张三,2009年5月31日\n李四,200905\n"


class TestEncoding:
    def test_utf8_without_bom(self, tmp_path: Path) -> None:
        """Plain UTF-8 is read as UTF-8."""
        path = tmp_path / "a.csv"
        path.write_text(TEXT, encoding="utf-8")
        assert detect_encoding(path) == "utf-8-sig"
        assert [r.cells["姓名"] for r in read_rows(path)] == ["张三", "李四"]

    def test_utf8_with_bom(self, tmp_path: Path) -> None:
        """A UTF-8 BOM (Excel's 'CSV UTF-8') does not end up in the first header."""
        path = tmp_path / "a.csv"
        path.write_text(TEXT, encoding="utf-8-sig")
        assert list(next(iter(read_rows(path))).cells) == ["姓名", "出生日期"]

    @pytest.mark.parametrize("codec", ["gb18030", "gbk"])
    def test_gb_encodings(self, tmp_path: Path, codec: str) -> None:
        """GBK and GB18030 files are detected and decoded to the same text."""
        path = tmp_path / "a.csv"
        path.write_bytes((TEXT + "㐀,2001\n" if codec == "gb18030" else TEXT).encode(codec))
        assert detect_encoding(path) == "gb18030"
        assert [r.cells["姓名"] for r in read_rows(path)][:2] == ["张三", "李四"]

    def test_binary_renamed_csv(self, tmp_path: Path) -> None:
        """Binary content under a .csv name is refused, naming what is wrong."""
        path = tmp_path / "photo.csv"
        path.write_bytes(bytes(range(256)) * 8)
        with pytest.raises(InputFileError, match="not a text table"):
            list(read_rows(path))

    def test_xlsx_renamed_csv(self, tmp_path: Path) -> None:
        """A workbook saved as .csv is recognised and the message says to rename it."""
        path = tmp_path / "book.csv"
        path.write_bytes(b"PK\x03\x04" + b"\x00" * 100)
        with pytest.raises(InputFileError, match=r"\.xlsx"):
            list(read_rows(path))

    def test_undecodable_text(self, tmp_path: Path) -> None:
        """Bytes that are neither UTF-8 nor GB18030 give a clear error, not a crash."""
        path = tmp_path / "a.csv"
        path.write_bytes("姓名\n".encode() + b"\x81\x20\xff\xfe\n")
        with pytest.raises(InputFileError, match="neither UTF-8 nor GB18030"):
            list(read_rows(path))

    def test_empty_file(self, tmp_path: Path) -> None:
        """An empty file is refused as empty."""
        path = tmp_path / "a.csv"
        path.write_bytes(b"")
        with pytest.raises(InputFileError, match="empty"):
            list(read_rows(path))


class TestCsv:
    def test_row_numbers_count_the_header(self, tmp_path: Path) -> None:
        """Row numbers are those a spreadsheet shows: header is row 1, blank rows count."""
        path = tmp_path / "a.csv"
        path.write_text("a,b\n1,2\n,\n3,4\n", encoding="utf-8")
        assert [r.number for r in read_rows(path)] == [2, 4]

    def test_extra_cells_are_a_row_problem(self, tmp_path: Path) -> None:
        """A row longer than the header is yielded with a problem, and reading goes on."""
        path = tmp_path / "a.csv"
        path.write_text("a,b\n1,2,3\n4,5\n", encoding="utf-8")
        rows = list(read_rows(path))
        assert rows[0].problem is not None and "3 cells" in rows[0].problem
        assert rows[1].cells == {"a": "4", "b": "5"}

    def test_tab_separated(self, tmp_path: Path) -> None:
        """Tab-separated exports are read with the tab as delimiter."""
        path = tmp_path / "a.tsv"
        path.write_text("a\tb\n1\t2\n", encoding="utf-8")
        assert next(iter(read_rows(path))).cells == {"a": "1", "b": "2"}

    def test_repeated_header_refused(self, tmp_path: Path) -> None:
        """Two columns with one header are ambiguous and refused."""
        path = tmp_path / "a.csv"
        path.write_text("姓名,姓名\n1,2\n", encoding="utf-8")
        with pytest.raises(InputFileError, match="repeats"):
            list(read_rows(path))


class TestJsonLines:
    def test_objects_and_bad_lines(self, tmp_path: Path) -> None:
        """Objects become rows; a broken line becomes a row problem with its line number."""
        path = tmp_path / "a.jsonl"
        path.write_text(json.dumps({"姓名": "张三"}, ensure_ascii=False) + "\n{oops\n[1]\n",
                        encoding="utf-8")
        rows = list(read_rows(path))
        assert rows[0].cells == {"姓名": "张三"}
        assert rows[1].number == 2 and rows[1].problem and "JSON" in rows[1].problem
        assert rows[2].problem == "the line is not a JSON object"


class TestXlsx:
    def test_cells_and_types(self, tmp_path: Path) -> None:
        """Excel dates and whole numbers come back usable; leading blank rows are skipped."""
        book = Workbook()
        sheet = book.active
        assert sheet is not None
        sheet.append([None, None])
        sheet.append(["姓名", "出生日期", "身高"])
        sheet.append(["张三", dt.datetime(2009, 5, 31), 150.0])
        path = tmp_path / "a.xlsx"
        book.save(path)
        rows = list(read_rows(path))
        assert rows[0].number == 3
        assert rows[0].cells == {"姓名": "张三", "出生日期": dt.date(2009, 5, 31), "身高": 150}

    def test_not_a_workbook(self, tmp_path: Path) -> None:
        """A broken .xlsx is refused with a clear error."""
        path = tmp_path / "a.xlsx"
        path.write_bytes(b"not a zip at all")
        with pytest.raises(InputFileError, match="xlsx"):
            list(read_rows(path))
