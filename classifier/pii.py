"""Mask personal data before anything is stored or logged.

Masked: mainland mobile numbers, landlines, resident ID-card numbers (18 digits, and the old
15-digit form), bank-card numbers (16-19 digits), e-mail addresses, customers' names where the text
introduces them (我叫…, 姓名：…, 持卡人…, …先生/女士) and street addresses (…路88号, …小区3栋2单元501室).
The masks follow common Chinese desensitisation practice (keep a few leading/trailing characters so
a person can still match a record with the customer, hide the rest): ``138****5678``,
``110***********123X``, ``622202*********0123``, ``z***@163.com``, ``王**``, ``北京市朝阳区*******``.

People do not type numbers the way a pattern expects, so matching runs on a folded copy of the text,
character for character (positions line up with the original):

* every decimal digit form becomes its ASCII digit: full-width (１３８), circled and parenthesised
  (①, ⑴, ⒈), Arabic-Indic (١٣٨), Devanagari and the other scripts Unicode gives a digit value,
  and Chinese numerals, lower and upper case (一三八, 幺 for 1, 〇/零, 壹叁捌);
* full-width ASCII becomes ASCII (ａ＠ｂ．ｃｏｍ), the ideographic space a space.

Numbers are then read as runs of digit groups joined by up to three separator characters (spaces,
hyphens, dots, slashes, parentheses, middle dots, zero-width characters): ``138.1234.5678``,
``(010) 6555-1234``, ``1 3 8 1 2 3 4 5 6 7 8``, ``138\\u200b1234\\u200b5678``. Consecutive groups
of a run are tried longest first against each number's pattern, so two numbers in one run
(``13812345678 13912345678``) are masked separately. Digit runs are delimited by non-digits rather
than ``\\b`` because Chinese text has no spaces around numbers ("电话13812345678谢谢").

Over-masking is preferred to leaking: an 18-digit number that looks like an ID card is masked even
if its check digit is wrong, and 16-19 digit runs are masked as cards without a Luhn check. Names
and addresses are found by their cues (trigger words, a common surname, 路/街/号…), not by a
tagger: jieba's part-of-speech tagger (``nr``/``ns``) costs about 4 ms per 70-character text here,
as much as the model, and masking runs for every stored item and log line.
tests/classifier/pii_corpus.py holds the realistic forms this must catch, with the measured rate.
"""
from __future__ import annotations

import re
import unicodedata
from functools import lru_cache
from typing import Any, Callable


# --- folding ---------------------------------------------------------------------------------------

_CHINESE_DIGITS = {
    "零": "0", "〇": "0", "○": "0", "洞": "0", "一": "1", "幺": "1", "二": "2", "三": "3", "四": "4", "五": "5",
    "六": "6", "七": "7", "八": "8", "九": "9",
    "壹": "1", "贰": "2", "貳": "2", "叁": "3", "參": "3", "叄": "3", "肆": "4", "伍": "5", "陆": "6", "陸": "6",
    "柒": "7", "捌": "8", "玖": "9",
}


@lru_cache(maxsize=1)
def _fold_table() -> dict[int, str]:
    table: dict[int, str] = {}
    for cp in range(0x80, 0x30000):
        ch = chr(cp)
        value = unicodedata.digit(ch, None)
        if value is not None and 0 <= value <= 9:
            table[cp] = str(value)
    for cp in range(0xFF01, 0xFF5F):  # full-width ASCII
        table[cp] = chr(cp - 0xFEE0)
    table[0x3000] = " "
    for ch, digit in _CHINESE_DIGITS.items():
        table[ord(ch)] = digit
    return table


def fold(text: str) -> str:
    """Same length as ``text``; digit forms → ASCII digits, full-width ASCII → ASCII."""
    return text.translate(_fold_table())


# --- numbers -----------------------------------------------------------------------------------------

_SEPARATORS = frozenset(" \t-‐‑‒–—―./\\()（）[]·・_~\u200b\u200c\u200d\u2060\ufeff\u00ad\u202f\u00a0")
_MAX_GAP = 3

_NUMBER_PATTERNS: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("id_card", re.compile(r"[1-9]\d{5}(?:18|19|20)\d{2}(?:0[1-9]|1[0-2])(?:0[1-9]|[12]\d|3[01])\d{3}[\dXx]")),
    ("bank_card", re.compile(r"\d{16,19}")),
    ("mobile", re.compile(r"(?:0086|86)?1[3-9]\d{9}")),
    ("landline", re.compile(r"0[1-9]\d{1,2}\d{7,8}")),
    ("id_card", re.compile(r"[1-9]\d{5}\d{2}(?:0[1-9]|1[0-2])(?:0[1-9]|[12]\d|3[01])\d{3}")),
)
# Kept digits (head, tail) per kind.
_KEEP = {"id_card": (3, 4), "bank_card": (6, 4), "landline": (3, 2), "short_phone": (0, 2)}


_HAS_DIGIT = re.compile(r"[0-9]")


_DIGIT_GROUP = re.compile(r"[0-9]+(?:[Xx](?![A-Za-z0-9]))?")


def _groups(folded: str) -> list[list[tuple[range, str]]]:
    """Runs of digit groups: each group is (positions, digits); a trailing X/x joins its group."""
    runs: list[list[tuple[range, str]]] = []
    run: list[tuple[range, str]] = []
    last_end = 0
    for m in _DIGIT_GROUP.finditer(folded):
        start, end = m.span()
        gap = folded[last_end:start]
        if run and not (len(gap) <= _MAX_GAP and all(c in _SEPARATORS for c in gap)):
            runs.append(run)
            run = []
        run.append((range(start, end), m.group()))
        last_end = end
    if run:
        runs.append(run)
    return runs


def _number_spans(folded: str) -> list[tuple[str, list[int]]]:
    """``(kind, digit positions)`` of every number found in the runs."""
    found: list[tuple[str, list[int]]] = []
    for run in _groups(folded):
        # A group ending in X can only end a number (an ID card's check digit).
        if sum(len(g[1]) for g in run) < 7:
            continue  # shorter than any number looked for here
        i = 0
        while i < len(run):
            for j in range(len(run) - 1, i - 1, -1):
                digits = "".join(g[1] for g in run[i:j + 1])
                if any(g[1][-1] in "Xx" for g in run[i:j]):
                    continue
                kind = next((k for k, p in _NUMBER_PATTERNS if p.fullmatch(digits)), None)
                if kind:
                    found.append((kind, [p for g in run[i:j + 1] for p in g[0]]))
                    i = j + 1
                    break
            else:
                i += 1
    return found


# Short local numbers are personal only where the text says they are a phone: 座机65551234.
_CUED_PHONE = re.compile(r"(?:座机|固话|电话|手机|宅电|tel|Tel|TEL)[:：\s是为]{0,3}(\d(?:[ \-.]?\d){6,7})(?![\d])")


# --- e-mail ------------------------------------------------------------------------------------------

_LOCAL = r"[A-Za-z0-9._%+\-]+"
_LABEL = r"[A-Za-z0-9\-\u00c0-\u024f\u0370-\u04ff\u4e00-\u9fff]+"
_TLD = r"(?:[A-Za-z]{2,}|xn--[A-Za-z0-9\-]+|[\u4e00-\u9fff]{2,4})"
_EMAIL = re.compile(rf"(?<![A-Za-z0-9._%+\-]){_LOCAL}\s{{0,2}}@\s{{0,2}}(?:{_LABEL}\s{{0,2}}\.\s{{0,2}})+{_TLD}")


def _mask_email(span: str) -> str:
    local, _, domain = span.partition("@")
    local = local.strip()
    return f"{local[0]}***@{domain.strip()}"


# --- names and addresses ------------------------------------------------------------------------------

# The most common surnames (about 85 % of the population), compound ones first.
_SURNAMES = (
    "欧阳|司马|上官|诸葛|东方|皇甫|令狐|慕容|"
    "王|李|张|刘|陈|杨|黄|赵|吴|周|徐|孙|马|朱|胡|郭|何|高|林|罗|郑|梁|谢|宋|唐|许|韩|冯|邓|曹|彭|曾|肖|田|董|袁|潘|"
    "于|蒋|蔡|余|杜|叶|程|苏|魏|吕|丁|任|沈|姚|卢|姜|崔|钟|谭|陆|汪|范|金|石|廖|贾|夏|韦|付|方|白|邹|孟|熊|秦|邱|"
    "江|尹|薛|闫|段|雷|侯|龙|史|陶|黎|贺|顾|毛|郝|龚|邵|万|钱|严|覃|武|戴|莫|孔|向|汤|常|温|康|施|文|牛|樊|葛|邢|"
    "安|齐|易|乔|伍|庞|颜|倪|庄|聂|章|鲁|岳|翟|殷|詹|申|欧|耿|关|兰|焦|俞|左|柳|甘|祝|包|宁|尚|符|舒|阮|柯|纪|梅|童|"
    "凌|毕|单|季|裴|霍|涂|成|苗|谷|盛|曲|翁|冉|骆|蓝|路|游|辛|靳|管|柴|蒙|鲍|华|喻|祁|蒲|房|滕|屈|饶|解|牟|艾|尤|阳|"
    "时|穆|农|司|卓|古|吉|缪|简|车|项|连|芦|麦|褚|娄|窦|戚|岑|景|党|宫|费|卜|冷|晏|席|卫|米|柏|宗|瞿|桂|全|佟|应|臧|"
    "闵|苟|邬|边|卞|姬|师|和|仇|栾|隋|商|刁|沙|荣|巫|寇|桑|郎|甄|丛|仲|虞|敖|巩|明|佘|池|查|麻|苑|迟|邝"
)
_CJK = r"[\u4e00-\u9fff]"
# "我叫王小明" / "姓名：王小明" / "持卡人王小明": the name after the cue; keep the surname.
_CUED_NAME = re.compile(
    rf"(?:我叫|我的名字是|名字叫|名字是|姓名[:：\s是为]{{0,2}}|本人|联系人[:：\s是为]{{0,2}}|户名[:：\s是为]{{0,2}}|"
    rf"持卡人[:：\s是为]{{0,2}}|收款人[:：\s是为]{{0,2}}|客户|借款人|投诉人)"
    rf"({_SURNAMES})({_CJK}{{1,2}})(?=[，,。.\s、；;：:！!？?）)]|$|先生|女士|小姐|的|在|身份证|手机|电话|卡号|住|，|是)"
)
# "王小明先生" (a surname and a given name before a title; "王先生" alone identifies no one).
_TITLED_NAME = re.compile(rf"({_SURNAMES})({_CJK}{{1,2}})(?=先生|女士|小姐)")
# What follows a surname without being a given name: 王某 (already anonymous), 王先生, 王经理…
_NOT_A_NAME = re.compile(r"^(?:某|氏|先生|女士|小姐|经理|总|老师|师傅|哥|姐|先|女|小$)")

_ADDRESS = re.compile(
    rf"((?:{_CJK}{{2,7}}?(?:省|自治区))?(?:{_CJK}{{1,7}}?市)?(?:{_CJK}{{1,7}}?(?:区|县|旗))?)"
    rf"((?:{_CJK}{{1,8}}?(?:镇|乡|街道))?[\u4e00-\u9fffA-Za-z0-9]{{1,12}}?"
    rf"(?:路|街|大街|大道|道|巷|弄|胡同|里|村|小区|花园|苑|大厦|公寓|广场|新村)"
    rf"(?:[0-9一二三四五六七八九十百零〇甲乙丙\-]+(?:号院|号楼|号|弄|栋|幢|座|楼|单元|室|层|组|段))+"
    rf"(?:[0-9A-Za-z一二三四五六七八九十零〇\-]+(?:栋|幢|座|楼|单元|室|层|号|户))*"
    rf"(?:[0-9]{{2,5}}(?![0-9]))?)"
)


# Cheap pre-checks (substring tests) so the patterns run only on texts that can match them:
# most feedback has no personal data, and masking runs on the event loop for every item.
_NAME_CUES = ("我叫", "名字", "姓名", "本人", "联系人", "户名", "持卡人", "收款人", "客户", "借款人", "投诉人")
_TITLES = ("先生", "女士", "小姐")
_ADDRESS_CUES = re.compile(r"[路街道巷弄同里村区园苑厦寓场]")
_ADDRESS_UNITS = re.compile(r"[号栋幢座楼室层弄]")
_PHONE_CUES = ("座机", "固话", "电话", "手机", "宅电", "tel", "Tel", "TEL")


def _cued_spans(folded: str) -> list[tuple[str, int, int]]:
    """Spans (kind, start, end) of names, addresses and cued short phone numbers."""
    spans: list[tuple[str, int, int]] = []
    patterns = []
    if any(c in folded for c in _NAME_CUES):
        patterns.append(_CUED_NAME)
    if any(t in folded for t in _TITLES):
        patterns.append(_TITLED_NAME)
    for pattern in patterns:
        for m in pattern.finditer(folded):
            if not _NOT_A_NAME.match(m.group(2)):
                spans.append(("name", m.start(2), m.end(2)))
    if _ADDRESS_UNITS.search(folded) and _ADDRESS_CUES.search(folded):
        for m in _ADDRESS.finditer(folded):
            if m.end(2) > m.start(2):
                spans.append(("address", m.start(2), m.end(2)))
    if any(c in folded for c in _PHONE_CUES):
        for m in _CUED_PHONE.finditer(folded):
            spans.append(("short_phone", m.start(1), m.end(1)))
    return spans


# --- putting it together -----------------------------------------------------------------------------

def _digit_mask(kind: str, positions: list[int], folded: str) -> set[int]:
    digits = [p for p in positions if folded[p].isalnum()]
    if kind == "mobile":
        number = digits[-11:]
        return set(number[3:7])
    head, tail = _KEEP[kind]
    return set(digits[head: len(digits) - tail])


def _plan(text: str) -> tuple[str, list[tuple[str, int, int, Callable[[str], str] | set[int]]]]:
    """The folded text and, per finding, (kind, start, end, how to mask): a set of positions to
    star, or a function of the folded span (e-mail)."""
    folded = fold(text)
    plan: list[tuple[str, int, int, Any]] = []
    taken = [False] * len(folded)

    def claim(start: int, end: int) -> bool:
        if any(taken[start:end]):
            return False
        taken[start:end] = [True] * (end - start)
        return True

    if "@" in folded:
        for m in _EMAIL.finditer(folded):
            if claim(m.start(), m.end()):
                plan.append(("email", m.start(), m.end(), _mask_email))
    for kind, positions in (_number_spans(folded) if _HAS_DIGIT.search(folded) else ()):
        start, end = positions[0], positions[-1] + 1
        if claim(start, end):
            plan.append((kind, start, end, _digit_mask(kind, positions, folded)))
    for kind, start, end in _cued_spans(folded):
        if claim(start, end):
            if kind == "short_phone":
                hide = _digit_mask(kind, [p for p in range(start, end) if folded[p].isdigit()], folded)
            else:
                hide = set(range(start, end))
            plan.append((kind, start, end, hide))
    plan.sort(key=lambda x: x[1])
    return folded, plan


def find_pii(text: str) -> list[tuple[str, int, int]]:
    """``(kind, start, end)`` of every personal-data span, non-overlapping, in text order."""
    return [(kind, start, end) for kind, start, end, _ in _plan(text)[1]]


def mask_text(text: str) -> str:
    """``text`` with personal data masked; text without any is returned unchanged. Masked
    characters become ``*`` one for one (e-mails keep their first letter and domain)."""
    if not text:
        return text
    folded, plan = _plan(text)
    if not plan:
        return text
    out, last = [], 0
    for _, start, end, how in plan:
        out.append(text[last:start])
        if callable(how):
            out.append(how(folded[start:end]))
        else:
            out.append("".join("*" if i in how else text[i] for i in range(start, end)))
        last = end
    out.append(text[last:])
    return "".join(out)


def mask_value(value: Any) -> Any:
    """Mask strings inside a JSON-like value, keys included (request metadata can carry phone
    numbers too, and clients put them in keys by mistake)."""
    if isinstance(value, str):
        return mask_text(value)
    if isinstance(value, dict):
        return {mask_text(k) if isinstance(k, str) else k: mask_value(v) for k, v in value.items()}
    if isinstance(value, list):
        return [mask_value(v) for v in value]
    return value
