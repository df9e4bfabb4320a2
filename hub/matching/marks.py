"""Physical marks: free text to normalised tokens ("左耳后有黑痣" -> {"痣", "左耳:痣"})."""

from __future__ import annotations

import itertools
import unicodedata
from functools import lru_cache

# Longer spellings first so that "胎记" wins over nothing and "伤疤" over "疤".
_FEATURES: tuple[tuple[str, str], ...] = (
    ("胎记", "胎记"),
    ("红记", "胎记"),
    ("青记", "胎记"),
    ("黑痣", "痣"),
    ("痣", "痣"),
    ("伤疤", "疤"),
    ("疤痕", "疤"),
    ("疤", "疤"),
    ("烫伤", "烫伤"),
    ("烧伤", "烫伤"),
    ("纹身", "纹身"),
    ("刺青", "纹身"),
    ("六指", "六指"),
    ("兔唇", "兔唇"),
    ("豁嘴", "兔唇"),
    ("唇裂", "兔唇"),
    ("斜视", "斜视"),
    ("斗鸡眼", "斜视"),
    ("酒窝", "酒窝"),
    ("虎牙", "虎牙"),
    ("缺牙", "缺牙"),
    ("龅牙", "龅牙"),
    ("雀斑", "雀斑"),
    ("白发", "白发"),
    ("跛", "跛"),
    ("耳洞", "耳洞"),
    ("胎毛", "胎毛"),
    ("旋", "发旋"),
)
_PARTS: tuple[str, ...] = (
    "额头",
    "眉",
    "眼",
    "耳",
    "鼻",
    "嘴",
    "唇",
    "下巴",
    "脸",
    "颈",
    "脖子",
    "肩",
    "胸",
    "背",
    "腰",
    "腹",
    "肚",
    "手臂",
    "臂",
    "胳膊",
    "手腕",
    "手",
    "指",
    "大腿",
    "小腿",
    "腿",
    "膝",
    "脚",
    "臀",
    "头",
    "后脑",
)
_PART_ALIASES = {"手臂": "臂", "脖子": "颈", "肚": "腹", "胳膊": "臂", "大腿": "腿", "小腿": "腿"}
_LATIN_STOP = frozenset(
    "a an the on of in at with and has have small large left right".split()  # noqa: SIM905
)
_LATIN_SIDES = frozenset(("left", "right"))


@lru_cache(maxsize=100_000)
def mark_tokens(text: str | None) -> frozenset[str]:
    """Bare features and 'side+part:feature' tokens found in a description of marks."""
    if not text:
        return frozenset()
    norm = unicodedata.normalize("NFKC", text).lower()
    if any("\u4e00" <= ch <= "\u9fff" for ch in norm):
        return _han_tokens(norm)
    return _latin_tokens(norm)


def _han_tokens(text: str) -> frozenset[str]:
    tokens: set[str] = set()
    # Clauses are read separately so that a body part does not leak into the next mark.
    for ch in "\uff0c\uff1b\u3002\u3001":  # Chinese comma, semicolon, full stop, list comma
        text = text.replace(ch, ",")
    for clause in text.split(","):
        part = ""
        i = 0
        while i < len(clause):
            hit_part = next((p for p in _PARTS if clause.startswith(p, i)), None)
            if hit_part:
                side = clause[i - 1] if i > 0 and clause[i - 1] in "左右" else ""
                part = side + _PART_ALIASES.get(hit_part, hit_part)
                i += len(hit_part)
                continue
            feature = next((f for f in _FEATURES if clause.startswith(f[0], i)), None)
            if feature:
                tokens.add(feature[1])
                if part:
                    tokens.add(f"{part}:{feature[1]}")
                i += len(feature[0])
                continue
            i += 1
    return frozenset(tokens)


def _latin_tokens(text: str) -> frozenset[str]:
    words = "".join(ch if ch.isalnum() else " " for ch in text).split()
    tokens = {w for w in words if w not in _LATIN_STOP and len(w) > 2}
    for side, word in itertools.pairwise(words):
        if side in _LATIN_SIDES:
            tokens.add(f"{side}-{word}")
    return frozenset(tokens)
