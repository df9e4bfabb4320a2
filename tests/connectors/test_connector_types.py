"""Every publishable type the departments use converts from a Chinese-headed row."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from connectors.mapping import load_mapping
from connectors.readers import SourceRow
from connectors.rows import RowConverter
from hub.avro import validate_payload
from hub.schema_catalog import SchemaCatalog

ROWS: dict[str, dict[str, str]] = {
    "missing-person-alert": {
        "协查编号": "A-320100-2024-0001", "案件类型": "疑似拐卖", "姓名": "王小明", "性别": "男",
        "年龄": "约5岁", "身高": "110厘米", "体表特征": "左耳后黑痣、门牙缺一颗",
        "最后出现地点": "320106 南京市鼓楼区某小区门口", "最后出现时间": "2024年5月1日14时30分",
        "失踪经过": "在小区门口玩耍时不见", "协查事由": "未成年人失踪", "发现后处置": "就地保护",
        "紧急程度": "特急", "报案人姓名": "王大明", "与失踪人关系": "父亲",
        "报案时间": "2024-05-01 16:00",
    },
    "rescue-notice": {
        "解救编号": "J-2024-17", "自报姓名": "小花", "性别": "女", "估计年龄": "8岁左右",
        "解救时间": "2024/6/2 09:00", "解救地点": "530102 昆明市五华区",
        "孩子自述": "记得家门口有河",
        "安置方式": "儿童福利院", "安置机构": "昆明市儿童福利院", "安置地区划代码": "530100",
    },
    "case-follow-up": {
        "解救编号": "J-2024-17", "回访编号": "F-1", "回访日期": "2024年7月1日",
        "援助类型": "医疗、心理辅导", "寻亲进展": "寻亲中", "个案状态": "跟进中",
        "回访情况": "适应良好",
    },
    "tip-report": {
        "线索编号": "T-9", "接报时间": "2024-05-03 20:10", "来源渠道": "电话",
        "线索内容": "在集市看到一个口音不同的小孩", "发现地点": "520102 贵阳市南明区",
        "被反映人性别": "男", "被反映人年龄": "5-6岁", "是否匿名": "是",
    },
}


@pytest.fixture(scope="module")
def catalog() -> SchemaCatalog:
    return SchemaCatalog.load()


@pytest.mark.parametrize("event_type", sorted(ROWS))
def test_row_converts_to_a_valid_payload(catalog: SchemaCatalog, event_type: str) -> None:
    """The built-in mapping turns a realistic row into a payload the contract accepts."""
    converter = RowConverter(
        load_mapping(event_type), catalog.latest(event_type).raw,
        context={"participant_id": "320100-police", "area_code": "320100"},
        validator=lambda p: [(x.field, x.reason) for x in
                             validate_payload(catalog, event_type, p) if x.blocking],
        today=dt.date(2025, 1, 1),
    )
    payload, problems = converter.convert(SourceRow(2, dict(ROWS[event_type])))
    assert problems == []
    assert payload is not None
    assert converter.unused_headers == set()
    check: dict[str, Any] = {
        "missing-person-alert": lambda p: (p["person"]["birth"]["age_min"], p["urgency"],
                                           p["last_seen_at"].utcoffset()),
        "rescue-notice": lambda p: (p["placement"]["kind"], p["person"]["birth"]["precision"]),
        "case-follow-up": lambda p: (p["assistance"], p["family_reunion"]),
        "tip-report": lambda p: (p["channel"], p["anonymous"], p["subject"]["birth"]["age_max"]),
    }
    expected = {
        "missing-person-alert": (4, "IMMEDIATE", dt.timedelta(hours=8)),
        "rescue-notice": ("WELFARE_INSTITUTION", "AGE_RANGE"),
        "case-follow-up": (["MEDICAL", "PSYCHOLOGICAL"], "SEARCHING"),
        "tip-report": ("PHONE", True, 6),
    }
    assert check[event_type](payload) == expected[event_type]
