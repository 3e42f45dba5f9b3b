"""Mask personal data before anything is stored or logged.

Masked: mainland mobile numbers, landlines, resident ID-card numbers (18 digits, and the old
15-digit form), bank-card numbers (16-19 digits), account numbers after 账号/对公账号 (10-25 digits),
e-mail addresses (also name[at]domain, name(at)domain), WeChat and QQ ids after 微信/QQ, passport and
travel-permit numbers after 护照/通行证, licence plates (京A12345, 粤B·D12345), customers' names where
the text introduces them (我叫…, 姓名：…, 客户经理…, 柜员…, …先生/女士/阿姨) and street addresses to
the room (…路88号, 文三路 259 号 6 幢 1 单元 701, …5号楼1201室). The masks follow common Chinese
desensitisation practice (keep a few leading/trailing characters so a person can still match a
record with the customer, hide the rest): ``138****5678``, ``110***********123X``,
``622202*********0123``, ``z***@163.com``, ``王**``, ``*先生``, ``京A****5``, ``北京市朝阳区*******``.

Only free text is masked: identifiers (item ids, request ids, idempotency keys, metadata keys)
are the caller's and are kept as sent (docs/integrators.md).

People do not type numbers the way a pattern expects, so numbers are read on a folded copy of the
text, character for character (positions line up with the original):

* every decimal digit form becomes its ASCII digit: full-width (１３８), circled and parenthesised
  (①, ⑴, ⒈), Arabic-Indic (١٣٨), Devanagari and the other scripts Unicode gives a digit value,
  and Chinese numerals, lower and upper case (一三八, 幺 for 1, 〇/零, 壹叁捌);
* full-width ASCII becomes ASCII (ａ＠ｂ．ｃｏｍ), the ideographic space a space.

Names, plates and ids are read on a copy where only full-width ASCII is folded: there a Chinese
numeral is part of a word (张三, 京A12345一直).

Linear time by construction (a 5 KB text once took 26 s): digit groups are found in one pass and
joined into runs when up to three separator characters (spaces, hyphens, dots, slashes,
parentheses, middle dots, zero-width characters) lie between them; from each group, spans of at
most 19 digits are tried longest first against each number's pattern, so the work per group is
bounded (``138.1234.5678``, ``1 3 8 1 2 3 4 5 6 7 8`` and two numbers in one run are all found).
Groups are cut where the script changes (``13812345678一直`` is a number and the word 一直), and a
decimal fraction or a date stands alone, so a list of amounts never adds up to a card number.
Everything else is anchored at a cue (an at-sign, a cue word, a street word, a title) and matches
a bounded number of characters; no pattern has unbounded repetition inside repetition. A per-text
work budget guards this: a text that exceeds it is masked coarsely (every digit and Latin letter)
rather than slowly or not at all. bench/bench_pii.py prints the per-KB figures.

Over-masking is preferred to leaking: an 18-digit number that looks like an ID card is masked even
if its check digit is wrong, 16-19 digit runs are masked as cards without a Luhn check, and a name
after a cue is masked over two characters when the second could be a word. Names and addresses are
found by their cues (trigger words, a common surname, 路/街/号…), not by a tagger: jieba's
part-of-speech tagger (``nr``) found 7 of the 8 title and role forms of issue 26 (not 柜员马建国)
at about 3 ms per short text, as much as the model, while the cue rules find all 8 in
microseconds; masking runs for every stored item and log line. tests/classifier/pii_corpus.py holds the realistic forms
this must catch, and tests/classifier/test_pii_families.py generates each form family.
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


@lru_cache(maxsize=1)
def _narrow_table() -> dict[int, str]:
    table = {cp: chr(cp - 0xFEE0) for cp in range(0xFF01, 0xFF5F)}
    table[0x3000] = " "
    return table


def narrow(text: str) -> str:
    """Same length as ``text``; full-width ASCII → ASCII only. Ids, plates and names are read on
    this view: there a Chinese numeral is a word (京A12345一直, 张三), not a digit."""
    return text.translate(_narrow_table())


def fold(text: str) -> str:
    """Same length as ``text``; digit forms → ASCII digits, full-width ASCII → ASCII."""
    return text.translate(_fold_table())


# --- the work budget -----------------------------------------------------------------------------------

class _OverBudget(Exception):
    pass


class _Budget:
    """Counts the steps a text's masking takes. Every step below is bounded (no pattern can match
    more than a fixed number of characters, a number is looked for in at most ``_MAX_DIGITS``
    digits from each group), so the count is linear in the text by construction; the budget is the
    guard that keeps it so if a later pattern is not: past ``STEPS_PER_CHAR`` steps per character
    the text is masked coarsely instead (``_coarse``), never left in clear."""

    STEPS_PER_CHAR = 64
    BASE = 4096

    __slots__ = ("left",)

    def __init__(self, n: int):
        self.left = self.BASE + self.STEPS_PER_CHAR * n

    def charge(self, steps: int = 1) -> None:
        self.left -= steps
        if self.left < 0:
            raise _OverBudget


def _coarse(text: str, folded: str) -> str:
    """Over the budget: every digit and Latin letter becomes ``*`` (over-masking, never a leak of
    a number or an e-mail; the Chinese words stay readable for a reviewer)."""
    return "".join("*" if (f.isascii() and f.isalnum()) else c for c, f in zip(text, folded))


# --- numbers -----------------------------------------------------------------------------------------

_SEPARATORS = frozenset(" \t-‐‑‒–—―./\\()（）[]·・_~\u200b\u200c\u200d\u2060\ufeff\u00ad\u202f\u00a0")
_MAX_GAP = 3
_MAX_DIGITS = 19  # the longest number looked for without a cue (a 19-digit card)

_NUMBER_PATTERNS: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("id_card", re.compile(r"[1-9]\d{5}(?:18|19|20)\d{2}(?:0[1-9]|1[0-2])(?:0[1-9]|[12]\d|3[01])\d{3}[\dXx]")),
    ("bank_card", re.compile(r"\d{16,19}")),
    ("mobile", re.compile(r"(?:0086|86)?1[3-9]\d{9}")),
    ("landline", re.compile(r"0[1-9]\d{1,2}\d{7,8}")),
    ("id_card", re.compile(r"[1-9]\d{5}\d{2}(?:0[1-9]|1[0-2])(?:0[1-9]|[12]\d|3[01])\d{3}")),
)
# Kept characters (head, tail) per kind.
_KEEP = {"id_card": (3, 4), "bank_card": (6, 4), "landline": (3, 2), "short_phone": (0, 2), "account": (4, 4),
         "qq": (2, 2), "wechat": (2, 2), "passport": (1, 2), "plate": (2, 1)}

_HAS_DIGIT = re.compile(r"[0-9]")
_DIGITS = re.compile(r"[0-9]+")
_ALNUM = re.compile(r"[A-Za-z0-9]")
# Chinese numerals are digits of their own script: "13812345678一直" is a mobile number followed by
# the word 一直, not a 12-digit number. Groups are cut where the script changes.
_ZH_DIGITS = "".join(_CHINESE_DIGITS)
_SCRIPT_PART = re.compile(rf"[{_ZH_DIGITS}]+|[^{_ZH_DIGITS}]+")
_DATE = re.compile(r"(?:19|20)\d\d")

_Group = tuple[int, int, str]  # start, end, digits


_ZH_DIGIT = re.compile(rf"[{_ZH_DIGITS}]")
_GAP = re.compile("[" + re.escape("".join(sorted(_SEPARATORS))) + "]{0,%d}" % _MAX_GAP)


def _digit_runs(text: str, folded: str):
    """(start, end) of each digit run of ``folded``, with an ID card's check digit X where one ends it:
    an X followed by no letter or digit, or by a Chinese numeral — it folds to a digit but starts a
    word of its own ("…000X一直")."""
    for m in _DIGITS.finditer(folded):
        start, end = m.span()
        if end < len(folded) and folded[end] in "Xx":
            after = end + 1
            if after == len(folded) or not _ALNUM.match(folded, after) or text[after] in _ZH_DIGITS:
                end = after
        yield start, end


def _digit_groups(text: str, folded: str) -> list[_Group]:
    if not _ZH_DIGIT.search(text):
        return [(start, end, folded[start:end]) for start, end in _digit_runs(text, folded)]
    groups: list[_Group] = []
    for start, end in _digit_runs(text, folded):
        for part in _SCRIPT_PART.finditer(text, start, end):
            groups.append((part.start(), part.end(), folded[part.start():part.end()]))
    return groups


def _runs(text: str, folded: str) -> list[list[_Group]]:
    """Digit groups joined by up to ``_MAX_GAP`` separator characters, minus what reads as an
    amount or a date: a decimal fraction (``1234.56``: one dot and one or two digits, not part of a
    dotted number such as ``138.1234.5678``) and ``2024-12-03`` stand alone, so a list of amounts
    or dates never adds up to a card number. Groups with nothing between them (a change of
    script) form one block for these rules."""
    blocks: list[list[_Group]] = []
    gaps: list[str | None] = []  # the gap before each block
    last_end = None
    for group in _digit_groups(text, folded):
        if last_end == group[0]:
            blocks[-1].append(group)
        else:
            gaps.append(None if last_end is None else folded[last_end:group[0]])
            blocks.append([group])
        last_end = group[1]
    n = len(blocks)
    digits = ["".join(g[2] for g in block) for block in blocks]
    joined = [g is not None and _GAP.fullmatch(g) is not None for g in gaps]
    for k in range(1, n):
        if gaps[k] == "." and len(digits[k]) <= 2 and gaps[k - 1] != "." and (k + 1 >= n or gaps[k + 1] != "."):
            joined[k] = False  # a decimal fraction: cut before and after it
            if k + 1 < n:
                joined[k + 1] = False
    for k in range(n - 2):
        sep = gaps[k + 1]
        if (sep in ("-", "/", ".") and gaps[k + 2] == sep and _DATE.fullmatch(digits[k])
                and len(digits[k + 1]) <= 2 and len(digits[k + 2]) <= 2
                and 1 <= int(digits[k + 1]) <= 12 and 1 <= int(digits[k + 2]) <= 31):
            joined[k] = False
            if k + 3 < n:
                joined[k + 3] = False
            joined[k + 1] = joined[k + 2] = True  # the date is one run of its own, too short for anything
    runs: list[list[_Group]] = []
    for block, join in zip(blocks, joined):
        if join and runs:
            runs[-1].extend(block)
        else:
            runs.append(list(block))
    return runs


def _card_shaped(groups: list[_Group]) -> bool:
    """Card numbers are typed whole, in fours (the last part shorter), as 6 + the rest, or digit by
    digit; "20000101 20000101" (two dates) is none of these."""
    sizes: list[int] = []
    last_end = None
    for start, end, _ in groups:
        if start == last_end:
            sizes[-1] += end - start
        else:
            sizes.append(end - start)
        last_end = end
    return (len(sizes) == 1 or all(n == 1 for n in sizes) or (len(sizes) == 2 and sizes[0] == 6)
            or (all(n == 4 for n in sizes[:-1]) and 1 <= sizes[-1] <= 4))


def _number_spans(text: str, folded: str, budget: _Budget) -> list[tuple[str, list[int]]]:
    """``(kind, digit positions)`` of every number found in the runs. From each group, spans of
    consecutive groups are tried longest first (at most ``_MAX_DIGITS`` digits, so the work per
    group is bounded), and a match resumes the search after it."""
    found: list[tuple[str, list[int]]] = []
    for run in _runs(text, folded):
        if sum(len(g[2]) for g in run) < 7:
            continue  # shorter than any number looked for here
        i = 0
        while i < len(run):
            ends, digits = [], 0
            for j in range(i, len(run)):
                digits += len(run[j][2])
                if digits > _MAX_DIGITS:
                    break
                ends.append(j)
                if run[j][2][-1] in "Xx":
                    break  # an ID card's check digit ends a number
            for j in reversed(ends):
                budget.charge(len(_NUMBER_PATTERNS))
                number = "".join(g[2] for g in run[i:j + 1])
                kind = next((k for k, p in _NUMBER_PATTERNS if p.fullmatch(number)), None)
                if kind == "bank_card" and not _card_shaped(run[i:j + 1]):
                    kind = None
                if kind:
                    found.append((kind, [p for g in run[i:j + 1] for p in range(g[0], g[1])]))
                    i = j + 1
                    break
            else:
                i += 1
    return found


# --- identifiers after a cue word ----------------------------------------------------------------------

_CONNECT = r"[\s:：是为号码的]{0,4}"
_PLUS_SEPS = r"[\s\-]?"
_CUED_IDS: tuple[tuple[str, re.Pattern[str]], ...] = (
    # Corporate and personal account numbers: 10-25 digits after an account word (cards of 16-19
    # digits are found without one; a 20-21 digit corporate account only with one).
    ("account", re.compile(rf"(?:对公账号|对公账户|银行账号|收款账号|付款账号|账号|帐号|账户|帐户){_CONNECT}"
                           rf"(?P<v>\d(?:[\s\-]?\d){{9,24}})(?![0-9])")),
    ("qq", re.compile(rf"(?:QQ|qq|Qq|扣扣|企鹅号){_CONNECT}(?P<v>[1-9]\d{{4,11}})(?![0-9])")),
    ("wechat", re.compile(rf"(?:微信|威信|薇信|V信|v信|vx|VX|Vx|wx|WX|weixin|WeChat|wechat){_CONNECT}"
                          rf"(?P<v>[A-Za-z][A-Za-z0-9_\-]{{5,19}}|\d{{5,11}})(?![A-Za-z0-9_\-])")),
    ("passport", re.compile(rf"(?:护照|通行证|回乡证|台胞证|往来港澳|往来台湾){_CONNECT}"
                            rf"(?P<v>[A-Za-z]{{1,2}}\d{{6,10}}|\d{{8,10}})(?![A-Za-z0-9])")),
)
_ID_CUES = re.compile(r"对公账号|对公账户|银行账号|收款账号|付款账号|账号|帐号|账户|帐户|QQ|qq|Qq|扣扣|企鹅号|微信|威信|薇信|V信|v信|vx|VX|Vx|wx|WX|weixin|WeChat|wechat|"
                      r"护照|通行证|回乡证|台胞证|往来港澳|往来台湾")

# Licence plates: a province character, the issuing-office letter, an optional dot or space, then
# five characters (letters I and O are not used), or six for new-energy plates (D/F first or last).
_PROVINCES = "京津沪渝冀豫云辽黑湘皖鲁新苏浙赣鄂桂甘晋蒙陕吉闽贵粤青藏川宁琼"
_PLATE = re.compile(
    rf"[{_PROVINCES}][A-HJ-NP-Za-hj-np-z]\s?[·•・.\-]?\s?"
    r"(?:[DFdf][A-HJ-NP-Za-hj-np-z0-9]\d{4}|\d{5}[DFdf]|[A-HJ-NP-Za-hj-np-z0-9]{4}[A-HJ-NP-Za-hj-np-z0-9挂学警港澳领])"
    r"(?![A-Za-z0-9])"
)


def _cued_ids(folded: str, budget: _Budget) -> list[tuple[str, int, int]]:
    """Account numbers, QQ and WeChat ids, passport and permit numbers after their cue words, and
    licence plates (no cue needed: their shape is specific). Each pattern is anchored at a cue and
    matches a bounded number of characters."""
    spans: list[tuple[str, int, int]] = []
    for hit in _ID_CUES.finditer(folded):
        budget.charge(len(_CUED_IDS))
        for kind, pattern in _CUED_IDS:
            m = pattern.match(folded, hit.start())
            if m:
                spans.append((kind, m.start("v"), m.end("v")))
                break
    if any(p in folded for p in _PROVINCES):
        for m in _PLATE.finditer(folded):
            budget.charge()
            spans.append(("plate", m.start(), m.end()))
    return spans


# --- e-mail ------------------------------------------------------------------------------------------

# ``@`` and the spellings people use to dodge harvesters: name[at]domain, name(at)domain.
_AT = re.compile(r"@|[\[({<]\s?[Aa][Tt]\s?[\])}>]")
_LOCAL_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._%+-")
_MAX_LOCAL = 64  # RFC 5321
_LABEL = r"[A-Za-z0-9\-\u00c0-\u024f\u0370-\u04ff\u4e00-\u9fff]{1,63}"
_DOT = r"\s{0,2}(?:\.|[\[(][Dd][Oo][Tt][\])])\s{0,2}"
_TLD = r"(?:[A-Za-z]{2,24}|xn--[A-Za-z0-9\-]{1,59}|[\u4e00-\u9fff]{2,4})"
_DOMAIN = re.compile(rf"\s{{0,2}}(?:{_LABEL}{_DOT}){{1,8}}{_TLD}")


def _emails(folded: str, budget: _Budget) -> list[tuple[int, int, str]]:
    """(start, end, masked form): the local part is read leftwards from the at-sign (at most 64
    characters), the domain rightwards (bounded labels), so each at-sign costs a bounded amount."""
    found: list[tuple[int, int, str]] = []
    for at in _AT.finditer(folded):
        budget.charge(_MAX_LOCAL)
        end_local = at.start()
        while end_local > 0 and at.start() - end_local < 2 and folded[end_local - 1] == " ":
            end_local -= 1
        start = end_local
        while start > 0 and end_local - start < _MAX_LOCAL and folded[start - 1] in _LOCAL_CHARS:
            start -= 1
        if start == end_local:
            continue
        m = _DOMAIN.match(folded, at.end())
        if m is None:
            continue
        found.append((start, m.end(), f"{folded[start]}***@{m.group().strip()}"))
    return found


# --- names -------------------------------------------------------------------------------------------

# The most common surnames (about 85 % of the population), compound ones first.
_COMPOUND_SURNAMES = ("欧阳", "司马", "上官", "诸葛", "东方", "皇甫", "令狐", "慕容", "公孙", "夏侯", "尉迟", "长孙", "宇文", "司徒")
_SURNAMES = frozenset(
    "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘"
    "于蒋蔡余杜叶程苏魏吕丁任沈姚卢姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱"
    "江尹薛闫段雷侯龙史陶黎贺顾毛郝龚邵万钱严覃武戴莫孔向汤常温康施文牛樊葛邢"
    "安齐易乔伍庞颜倪庄聂章鲁岳翟殷詹申欧耿关兰焦俞左柳甘祝包宁尚符舒阮柯纪梅童"
    "凌毕单季裴霍涂成苗谷盛曲翁冉骆蓝路游辛靳管柴蒙鲍华喻祁蒲房滕屈饶解牟艾尤阳"
    "时穆农司卓古吉缪简车项连芦麦褚娄窦戚岑景党宫费卜冷晏席卫米柏宗瞿桂全佟应臧"
    "闵苟邬边卞姬师和仇栾隋商刁沙荣巫寇桑郎甄丛仲虞敖巩明佘池查麻苑迟邝"
)
# Surnames that are also everyday function words: read as a surname only where a cue says a
# name follows (我叫于丽), never before a bare title ("我和经理沟通", "向女士致歉", "应先生要求").
_FUNCTION_SURNAMES = frozenset("和于向应时全连成单明常安文方关司车华宁尚路谷古简项商荣查迟池师解")
# Of those, the ones that are particles first of all: never a surname before a title (和客户经理,
# 向女士致歉); the others are (方先生) unless they end a word (公司经理, 基金经理: _NOT_NAMES).
_PARTICLE_SURNAMES = frozenset("和于向应时全连成单")
# Titles and roles after a name: 王小明先生, 王先生, 陈阿姨, 张经理.
_TITLES = ("先生", "女士", "小姐", "阿姨", "师傅", "经理", "老师", "大爷", "大妈", "叔叔", "同志", "主任", "行长",
           "律师", "医生", "警官", "老板", "总监", "专员", "主管", "大姐", "大哥")
_TITLE_RE = "|".join(_TITLES)  # not 总 (王总): as "always" it follows every other verb (登陆总闪退)
# Words that introduce a name: 我叫…, 姓名：…, 持卡人…, 客户经理…, 柜员…
_NAME_CUES = ("我叫", "我的名字是", "名字叫", "名字是", "名字", "叫做", "姓名", "本人", "联系人", "户名", "持卡人", "收款人",
              "付款人", "开户人", "借款人", "投诉人", "担保人", "申请人", "代理人", "经办人", "当事人", "客户", "客户经理",
              "理财经理", "大堂经理", "经理", "柜员", "业务员", "工作人员", "员工", "专员", "主管", "行长", "客服",
              "坐席", "催收员", "投资顾问", "顾问", "销售", "推销员", "同事", "老公", "老婆", "丈夫", "妻子", "儿子",
              "女儿", "父亲", "母亲", "名叫", "叫作", "收件人", "寄件人", "投保人",
              "被保险人", "受益人", "法人", "法定代表人", "监护人", "签收人", "办理人", "贷款人", "还款人", "法人代表")
_CUE_RE = re.compile(
    "(?P<cue>" + "|".join(sorted(_NAME_CUES, key=len, reverse=True)) + r")[:：\s]{0,2}(?:是|为|叫)?[:：\s]{0,2}"
)
# Characters that end a name (or cannot be its second character): punctuation and the particles
# and verbs that follow a name in complaints (孙丽说, 张三的卡, 马建国让我…).
_AFTER_NAME = frozenset(
    "，,。.、；;：:！!？?）)」』”\"' \t\n的了是在说讲让要给把被和跟与也都就还又会已对向从为帮办告称答应承诺推荐"
    "反映投诉打来电话先女阿师经老同主行律医警身手卡住联号等您你我他她们"
)
# The most common given-name characters: after a weak cue (客户, 柜员…) a run of characters is
# read as a name when it starts with one of these or is followed by what ends a name.
_GIVEN_COMMON = frozenset(
    "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英华玉兰萍红建国文辉力梅鹏飞斌宇浩凯健俊帆晨雪婷琳欣悦佳思雨嘉"
    "子轩涵博瑞三四五六七八九一二小志永海波宁东春秋冬夏云峰龙凤慧颖倩晶燕莉丹亮林斌彬鑫淑珍贞莲琴惠芬芝萱"
    "怡婉婕璐瑶雯蕾薇蓉菲岚琪娅妍彤宏伟成光荣庆福禄寿喜德义仁礼智信忠孝诚毅坚刚勤俭安康乐天振兴盛旺发财"
    "金银宝珠玲珊瑾瑜璇晓晖昊昕阳旭日月星辰杰豪俊逸凡翔鸿鹤鹏博学士贤良君臣民生立新正清清泉江河湖川山石松柏"
    "桃李梅竹菊兰荷莹丽娇媛嫣娴婧秀美艳芸芷若涵晗晴朗瀚浩然哲睿泽宸铭轩皓宇航远达"
)
# Characters that are not part of a given name: 王某 is anonymous already; particles, pronouns,
# measure words and the characters of family titles (各位老板, 大爷大妈, 叫高么).
_NOT_GIVEN = frozenset("某氏位个们不没么吗呢吧啊呀哦这那些各每该此其谁什怎与或及且都也还又再只被把让给对从于以所因"
                       "虽曾将要会能需必得地爷妈姨叔婶哥姐弟妹叫说是")
_CJK_CHAR = re.compile(r"[\u4e00-\u9fff]")
# Common words that look like a surname and a given name after a weak cue ("客户方面", "经理高兴").
_NOT_NAMES = frozenset((
    "方面", "方式", "方法", "方案", "方便", "高兴", "明白", "明天", "全部", "全额", "时间", "时候", "安全", "安排",
    "文件", "常常", "成功", "白天", "金额", "于是", "关于", "关系", "经常", "经过", "车辆", "车贷", "华为", "单位",
    "信息", "信用", "信用卡", "资料", "服务", "本人", "自己", "一直", "马上", "周末", "周一", "周二", "周三", "周四",
    "周五", "周六", "周日", "周年", "李子", "黄金", "石油", "钱款", "钱包", "万元", "程序", "高级", "高端", "高额",
    "司法", "林业", "江苏", "湖南", "和解", "向我", "应该", "应当", "时效", "连续", "宁可", "简单", "项目", "商户",
    "商品", "商家", "查询", "查看", "苏州", "温州", "广州", "包括", "包含", "毛利", "沙发", "贾某", "孔子",
    "成本", "成为", "章程", "管理", "管家", "罗列", "宋体", "任何", "任务", "许多", "许可", "余额", "余款",
    "杜绝", "冯某", "范围", "付款", "付费", "邹某", "邱某", "熊猫", "龙头", "史上", "陶瓷", "雷同", "贺卡",
    "康复", "施工", "牛市", "安装", "齐全", "易宝", "乔迁", "庄家", "聂某", "鲁莽", "岳父", "岳母", "申请", "申报",
    "欧元", "关闭", "关注", "兰州", "焦虑", "左右", "柳州", "甘肃", "包裹", "宁波", "尚未", "符合", "纪录", "纪律",
    "梅州", "童年", "毕业", "季度", "曲线", "蓝牙", "游戏", "管道", "蒙古", "华夏", "喻某", "房子", "房贷", "房产",
    "屈服", "解决", "解释", "艾滋", "时代", "农业", "农行", "司机", "古代", "吉林", "简历", "车主", "连锁", "麦当",
    "景区", "党员", "宫颈", "费用", "冷静", "席位", "卫生", "米饭", "柏林", "宗旨", "全国", "全款", "应用", "明细",
    "明确", "麻烦", "高度", "高效", "高价", "何时", "何况", "任意", "严重", "严格", "孔雀", "温度", "温馨", "和我", "和他", "和她", "池子", "查收", "苑区", "商量", "商业", "荣誉", "丛林", "仲裁", "虞某", "巩固",
    "明年", "金融", "金卡", "房东", "房租", "房间", "感谢", "谢谢", "多谢", "工商", "招商", "协商", "厂商", "电商", "外商", "磋商", "建行", "农行", "中行", "基金", "资金", "现金", "本金", "押金", "租金", "奖金", "年金", "美金", "定金", "订金", "税金", "佣金", "罚金", "保证金", "管控", "公司", "上司", "江西", "江南", "黄色", "白色", "蓝色", "马路", "上海", "东西", "钟头", "石家", "夏天", "白金", "万一", "高速", "高铁", "林某", "张某", "王某", "李某",
    "刘某", "陈某", "杨某", "赵某", "黄某", "吴某", "周某", "徐某", "孙某", "马某", "朱某", "胡某", "郭某",
))


def _given_name(folded: str, p: int) -> int:
    """How many characters of given name start at ``p`` (0, 1 or 2): two unless the second one
    ends a name (张三的卡, 孙丽说); over-masking a character is preferred to leaking one."""
    n = len(folded)
    if p >= n or not _CJK_CHAR.match(folded, p) or folded[p] in _NOT_GIVEN or folded[p] in _AFTER_NAME:
        return 0
    if p + 1 < n and _CJK_CHAR.match(folded, p + 1) and folded[p + 1] not in _AFTER_NAME and folded[p + 1] not in _NOT_GIVEN:
        return 2
    return 1


def _surname_at(folded: str, p: int) -> int:
    if folded.startswith(_COMPOUND_SURNAMES, p):
        return 2
    return 1 if p < len(folded) and folded[p] in _SURNAMES else 0


# Cues after which even a function-word surname starts a name (我叫于丽): they say a name follows.
_CALLED = frozenset(("我叫", "我的名字是", "名字叫", "名字是", "叫做", "名叫", "叫作"))
_STRONG_CUES = frozenset(("我叫", "我的名字是", "名字叫", "名字是", "名字", "叫做", "名叫", "叫作", "姓名", "户名", "持卡人",
                          "收款人", "付款人", "开户人", "联系人", "收件人", "寄件人", "投保人", "被保险人", "受益人"))


def _names(folded: str, budget: _Budget) -> list[tuple[int, int]]:
    """Spans to star: a given name after a cue and a surname (王**), or a surname before a title
    (*先生: the surname is all a title leaves to identify)."""
    spans: list[tuple[int, int]] = []
    for m in _CUE_RE.finditer(folded):
        budget.charge(8)
        cue = m.group("cue")
        p = m.end()
        s = _surname_at(folded, p)
        if not s:
            continue
        strong = cue in _STRONG_CUES
        if folded[p] in _FUNCTION_SURNAMES and s == 1 and not (cue in _CALLED or m.group() != cue):
            continue  # 于丽 after 我叫 or 姓名：, not 和 after 姓名 (姓名和信用卡) or 持卡人查交易
        rest = p + s
        if folded.startswith(_TITLES, rest):
            if not (s == 1 and folded[p] in _FUNCTION_SURNAMES):
                spans.append((p, rest))
            continue
        if cue == "户名" and m.start() > 0 and folded[m.start() - 1] == "用":
            continue  # 用户名 is a user name field, not an account holder
        g = _given_name(folded, rest)
        if g and not strong and rest + g < len(folded) and folded[rest + g] not in _AFTER_NAME \
                and folded[rest] not in _GIVEN_COMMON:
            continue  # "客户管控比较严格": after a weak cue, three characters in a row are a name only
            # when the first is a common given-name character (马建国态度…)
        if g and (s == 2 or folded[p:rest + g] not in _NOT_NAMES and folded[p:p + 2] not in _NOT_NAMES):
            spans.append((rest, rest + g))
    for m in _TITLED.finditer(folded):
        budget.charge(8)
        t = m.start()  # the title; look back for surname + given name (at most 4 characters)
        for back in (3, 2, 4, 1):
            p = t - back
            if p < 0:
                continue
            s = _surname_at(folded, p)
            if not s or s > back:
                continue
            given = back - s
            if s == 1 and folded[p] in _PARTICLE_SURNAMES:
                continue  # 和客户经理, 和大爷大妈
            if p > 0 and (folded[p - 1].isdigit() or folded[p - 1] in _ZH_DIGITS or folded[p - 1] in "几两"):
                continue  # 三张大妈: a measure word
            if given == 0:
                if p > 0 and folded[p - 1:p + 1] in _NOT_NAMES:
                    continue  # 和经理, 基金经理
                spans.append((p, t))
                break
            if given > 2 or not all(_CJK_CHAR.match(folded, q) and folded[q] not in _AFTER_NAME
                                    and folded[q] not in _NOT_GIVEN for q in range(p + s, t)):
                continue
            if folded[p:p + 2] in _NOT_NAMES or (p > 0 and folded[p - 1:p + 1] in _NOT_NAMES):
                continue
            spans.append((p + s, t))
            break
    return spans


_TITLED = re.compile(_TITLE_RE)


# --- addresses ---------------------------------------------------------------------------------------

# A street, community or building word, then numbered units (号, 号楼, 栋, 单元, 室…), spaces
# allowed between them ("文三路 259 号 6 幢 1 单元 701"); a bare room number may end it. Words that
# are also everyday words (道, 里, 园…) need two units, so "知道3号还款" stays a date.
_STREET_WORDS = ("大街", "大道", "胡同", "小区", "花园", "大厦", "公寓", "广场", "新村", "社区", "家园", "花苑", "公馆",
                 "华庭", "嘉园", "雅苑", "名苑", "山庄", "大楼", "写字楼", "路", "街", "巷", "弄")
_WEAK_STREET_WORDS = ("道", "里", "村", "苑", "园", "城", "庄", "湾", "府", "院", "寓", "坊", "屯", "组", "期")
_NUM = r"[0-9A-Za-z\-甲乙丙丁十百千]{1,7}"
_UNIT = r"(?:号院|号楼|号|弄|栋|幢|座|楼|单元|室|层|组|段|户|门|期|排|区|支弄)"
_UNITS = re.compile(rf"(?:\s{{0,2}}{_NUM}\s{{0,2}}{_UNIT}){{1,8}}(?:\s{{0,2}}[0-9]{{2,5}}(?![0-9]))?")
_STREET = re.compile("|".join(_STREET_WORDS + _WEAK_STREET_WORDS))
# A building's name may be followed by the room number alone: 华庭大厦1502, 阳光公寓302.
_BUILDINGS = frozenset(("大厦", "公寓", "大楼", "写字楼", "小区", "花园", "华庭", "公馆"))
_ROOM = re.compile(r"\s{0,2}[0-9]{3,5}(?![0-9]|\s{0,2}[人元个万年米次块天期%])")
_UNIT_COUNT = re.compile(_UNIT)
# Leftwards from the street word, the street's name: at most 8 characters, not past a region
# (…区, …市) or the words that introduce an address.
_NAME_STOP = frozenset("省市区县镇乡旗州盟，,。.、；;：:！!？?）)( \t\n住在址到于是为的向从号室层")
_MAX_STREET_NAME = 8


def _addresses(folded: str, budget: _Budget) -> list[tuple[int, int]]:
    spans: list[tuple[int, int]] = []
    for m in _STREET.finditer(folded):
        budget.charge(16)
        units = _UNITS.match(folded, m.end())
        if units is None and m.group() in _BUILDINGS:
            units = _ROOM.match(folded, m.end())
        if units is None:
            continue
        weak = m.group() in _WEAK_STREET_WORDS
        count = len(_UNIT_COUNT.findall(units.group())) + units.group()[-1:].isdigit()  # 幸福里3栋502
        if weak and count < 2:
            continue
        start = m.start()
        while start > 0 and m.start() - start < _MAX_STREET_NAME and folded[start - 1] not in _NAME_STOP:
            start -= 1
        if start == m.start() and weak:
            continue
        spans.append((start, units.end()))
    return spans


# Short local numbers are personal only where the text says they are a phone: 座机65551234.
_CUED_PHONE = re.compile(r"(?:座机|固话|电话|手机|宅电|tel|Tel|TEL)[:：\s是为]{0,3}(\d(?:[ \-.]?\d){6,7})(?![\d])")
_PHONE_CUES = ("座机", "固话", "电话", "手机", "宅电", "tel", "Tel", "TEL")


# --- putting it together -----------------------------------------------------------------------------

def _keep_mask(positions: list[int], folded: str, kind: str) -> set[int]:
    chars = [p for p in positions if folded[p].isalnum()]
    if kind == "mobile":
        number = chars[-11:]
        return set(number[3:7])
    head, tail = _KEEP[kind]
    if len(chars) <= head + tail:
        head, tail = (1, 1) if len(chars) > 2 else (0, 0)
    return set(chars[head: len(chars) - tail])


_Plan = list[tuple[str, int, int, "Callable[[str], str] | set[int] | str"]]


def _plan(text: str) -> tuple[str, _Plan]:
    """The folded text and, per finding, (kind, start, end, how to mask): a set of positions to
    star, or the replacement (e-mail)."""
    folded = fold(text)
    budget = _Budget(len(folded))
    plan: _Plan = []
    taken: dict[int, int] = {}  # start -> end of each claimed span (few per text)
    starts: list[int] = []

    def claim(start: int, end: int) -> bool:
        import bisect
        k = bisect.bisect_right(starts, start)
        if k > 0 and taken[starts[k - 1]] > start:
            return False
        if k < len(starts) and starts[k] < end:
            return False
        starts.insert(k, start)
        taken[start] = end
        return True

    if "@" in folded or "at" in folded or "AT" in folded:
        for start, end, masked in _emails(folded, budget):
            if claim(start, end):
                plan.append(("email", start, end, masked))
    narrowed = narrow(text)
    for kind, start, end in _cued_ids(narrowed, budget):
        if claim(start, end):
            plan.append((kind, start, end, _keep_mask(list(range(start, end)), narrowed, kind)))
    if _HAS_DIGIT.search(folded):
        for kind, positions in _number_spans(text, folded, budget):
            start, end = positions[0], positions[-1] + 1
            if claim(start, end):
                plan.append((kind, start, end, _keep_mask(positions, folded, kind)))
    for start, end in _names(narrowed, budget):
        if claim(start, end):
            plan.append(("name", start, end, set(range(start, end))))
    for start, end in _addresses(folded, budget):
        if claim(start, end):
            plan.append(("address", start, end, set(range(start, end)) - {p for p in range(start, end) if folded[p].isspace()}))
    if any(c in folded for c in _PHONE_CUES):
        for m in _CUED_PHONE.finditer(folded):
            budget.charge(16)
            if claim(m.start(1), m.end(1)):
                positions = [p for p in range(m.start(1), m.end(1)) if folded[p].isdigit()]
                plan.append(("short_phone", m.start(1), m.end(1), _keep_mask(positions, folded, "short_phone")))
    plan.sort(key=lambda x: x[1])
    return folded, plan


def find_pii(text: str) -> list[tuple[str, int, int]]:
    """``(kind, start, end)`` of every personal-data span, non-overlapping, in text order."""
    try:
        return [(kind, start, end) for kind, start, end, _ in _plan(text)[1]]
    except _OverBudget:
        return [("over_budget", 0, len(text))] if text else []


def mask_text(text: str) -> str:
    """``text`` with personal data masked; text without any is returned unchanged. Masked
    characters become ``*`` one for one (e-mails keep their first letter and domain)."""
    if not text:
        return text
    try:
        folded, plan = _plan(text)
    except _OverBudget:
        return _coarse(text, fold(text))
    if not plan:
        return text
    out, last = [], 0
    for _, start, end, how in plan:
        out.append(text[last:start])
        if isinstance(how, str):
            out.append(how)
        else:
            out.append("".join("*" if i in how else text[i] for i in range(start, end)))
        last = end
    out.append(text[last:])
    return "".join(out)


def mask_value(value: Any) -> Any:
    """Mask the strings inside a JSON-like value (metadata values); keys are names chosen by the
    integrator, not text, and are kept as sent (docs/integrators.md)."""
    if isinstance(value, str):
        return mask_text(value)
    if isinstance(value, dict):
        return {k: mask_value(v) for k, v in value.items()}
    if isinstance(value, list):
        return [mask_value(v) for v in value]
    return value
