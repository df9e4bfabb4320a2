"""Names: script, surname split, toneless pinyin, Latin normalisation and keys, Jaro-Winkler."""

from __future__ import annotations

import unicodedata
from functools import lru_cache

from pypinyin import Style, lazy_pinyin
from rapidfuzz.distance import JaroWinkler

# Two-character surnames; a name starting with one of these keeps both characters as surname.
COMPOUND_SURNAMES: frozenset[str] = frozenset(
    (
        "欧阳",
        "司马",
        "诸葛",
        "上官",
        "东方",
        "皇甫",
        "尉迟",
        "公孙",
        "慕容",
        "长孙",
        "宇文",
        "司徒",
        "夏侯",
        "轩辕",
        "令狐",
        "端木",
        "独孤",
        "南宫",
        "西门",
        "百里",
        "呼延",
        "东郭",
        "万俟",
        "闻人",
        "澹台",
        "公冶",
        "太史",
        "申屠",
        "钟离",
        "赫连",
        "拓跋",
        "完颜",
    )
)

# Characters read differently as a surname than in ordinary words (曾 zēng, not céng).
SURNAME_READINGS: dict[str, str] = {
    "曾": "zeng",
    "单": "shan",
    "仇": "qiu",
    "解": "xie",
    "区": "ou",
    "朴": "piao",
    "查": "zha",
    "盖": "ge",
    "乐": "yue",
    "覃": "qin",
    "繁": "po",
    "员": "yun",
    "尉迟": "yuchi",
    "万俟": "moqi",
    "长孙": "zhangsun",
    "单于": "chanyu",
    "召": "shao",
    "缪": "miao",
    "翟": "zhai",
    "秘": "bi",
    "冼": "xian",
    "种": "chong",
    "句": "gou",
}

# Initial and final confusions common in southern speech and in hasty transcription.
_FUZZY_INITIALS: tuple[tuple[str, str], ...] = (("zh", "z"), ("ch", "c"), ("sh", "s"), ("l", "n"))
_FUZZY_FINALS: tuple[tuple[str, str], ...] = (("ing", "in"), ("eng", "en"), ("ang", "an"))


def is_han(text: str) -> bool:
    """True when the text is mostly CJK ideographs."""
    han = sum(1 for ch in text if "\u4e00" <= ch <= "\u9fff" or "\u3400" <= ch <= "\u4dbf")
    return han > 0 and han * 2 >= len(text.replace(" ", ""))


def clean_name(raw: str | None) -> str | None:
    """Trim, unify width and drop separators; None for empty input."""
    if raw is None:
        return None
    text = unicodedata.normalize("NFKC", raw).strip()
    if not text:
        return None
    if is_han(text):
        # Middle dots and spaces in transcribed minority names do not distinguish people.
        text = "".join(ch for ch in text if ch not in " ·•.-")
    else:
        text = " ".join(text.split())
    return text or None


def split_han_name(name: str) -> tuple[str, str]:
    """Surname and given name of a Chinese name, compound surnames included."""
    if len(name) >= 3 and name[:2] in COMPOUND_SURNAMES:
        return name[:2], name[2:]
    if len(name) == 1:
        return name, ""
    return name[0], name[1:]


@lru_cache(maxsize=200_000)
def pinyin(text: str) -> str:
    """Toneless pinyin, syllables joined by nothing ("张丽" -> "zhangli")."""
    return "".join(lazy_pinyin(text, style=Style.NORMAL, errors="ignore"))


@lru_cache(maxsize=50_000)
def surname_pinyin(surname: str) -> str:
    """Toneless pinyin of a surname, using surname readings where they differ."""
    if surname in SURNAME_READINGS:
        return SURNAME_READINGS[surname]
    return "".join(SURNAME_READINGS.get(ch) or pinyin(ch) for ch in surname)


@lru_cache(maxsize=200_000)
def fuzzy_pinyin(text: str) -> str:
    """Pinyin of Han text with zh/z, ng/n style confusions folded, for 'sounds similar'."""
    syllables = lazy_pinyin(text, style=Style.NORMAL, errors="ignore")
    return "".join(_fold_syllable(syl) for syl in syllables)


def _fold_syllable(syl: str) -> str:
    for long, short in _FUZZY_INITIALS:
        if syl.startswith(long):
            syl = short + syl[len(long) :]
            break
    for long, short in _FUZZY_FINALS:
        if syl.endswith(long):
            syl = syl[: -len(long)] + short
            break
    return syl


def latin_tokens(name: str) -> tuple[str, ...]:
    """Lower-case ASCII words of a Latin-script name, in written order."""
    decomposed = unicodedata.normalize("NFKD", name)
    ascii_only = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    ascii_only = ascii_only.replace("đ", "d").replace("Đ", "D")
    # Apostrophes join (O'Brien is one word); other punctuation separates.
    ascii_only = ascii_only.replace("'", "").replace("\u2019", "")
    return tuple("".join(ch.lower() if ch.isalnum() else " " for ch in ascii_only).split())


def latin_key(name: str) -> str:
    """Lower-case ASCII form of a Latin-script name: accents stripped, tokens sorted."""
    return " ".join(sorted(latin_tokens(name)))


_SOUNDEX = {
    **dict.fromkeys("bfpv", "1"),
    **dict.fromkeys("cgjkqsxz", "2"),
    **dict.fromkeys("dt", "3"),
    "l": "4",
    **dict.fromkeys("mn", "5"),
    "r": "6",
}


@lru_cache(maxsize=200_000)
def soundex(word: str) -> str:
    """American Soundex of one lower-case ASCII word ("robert" -> "r163"); "" for no letters."""
    letters = [ch for ch in word if "a" <= ch <= "z"]
    if not letters:
        return ""
    code = [letters[0]]
    last = _SOUNDEX.get(letters[0], "")
    for ch in letters[1:]:
        digit = _SOUNDEX.get(ch, "")
        if digit and digit != last:
            code.append(digit)
        if ch not in "hw":  # h and w do not separate two letters of the same code
            last = digit
    return ("".join(code) + "000")[:4]


def jaro_winkler(a: str, b: str) -> float:
    """Jaro-Winkler similarity in [0, 1] (prefix scale 0.1), computed by rapidfuzz's C code."""
    return float(JaroWinkler.similarity(a, b))
