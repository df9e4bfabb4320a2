"""Generated sample files for demonstrations, tests and benchmarks (synthetic people only)."""

from __future__ import annotations

import csv
from pathlib import Path

HEADER = ["登记编号", "姓名", "性别", "出生日期", "身份证号", "户籍地址", "现住址", "入住日期",
          "登记日期", "登记派出所"]


def migrant_row(n: int) -> list[str]:
    """A valid migrant-record row whose record id is R<n>."""
    return [f"R{n:06d}", f"测试{n}", "男" if n % 2 else "女", f"19{80 + n % 20}年{1 + n % 12}月3日",
            "", "110105 北京市朝阳区", f"320102 玄武区某路{n}号", "2024/5/1", "2024-05-02",
            "玄武派出所"]


def write_migrant_csv(path: Path, rows: int, *, encoding: str = "utf-8",
                      extra: list[list[str]] | None = None) -> Path:
    """A migrant-record CSV with `rows` valid rows (R000001...), then any extra rows."""
    with path.open("w", encoding=encoding, newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(HEADER)
        for n in range(1, rows + 1):
            writer.writerow(migrant_row(n))
        for row in extra or []:
            writer.writerow(row)
    return path
