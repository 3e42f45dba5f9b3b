"""Guideline rule signals: short, named, high-precision patterns for the hard cases guideline v1.2 settles
in so many words, used as review reasons ``rule:<name>``.

Why: the urgent items nobody saw were cases the guideline decides explicitly — money gone or a charge
the customer did not make (→ contract_legal, high), a lost phone or card (→ high), a repayment due
today that an app failure blocks (→ high), a legal notice received or the writer's own threat — and the
model gave them P(high) ≈ 0.01: too few examples to learn the rule, too low to be caught by a watch
threshold at any affordable review share. A pattern that names the rule catches them at a fraction of
a percent of traffic, and the supervisor sees which rule fired (``review_reasons``).

A signal sends an item to review only when the model does not already predict every class the rule
implies (an item predicted ``high`` + ``contract_legal`` is already at the top of the queue). Which
signals a bundle applies is fitted at export, where each one's precision is measured on the fitting
rows (training/fitting/review_policy.py), and stored in ``calibration.json`` under ``signals``; a bundle that
predates signals applies ``DEFAULT_SIGNALS``. Precision and recall per signal on train and dev are in
the bundle's model card.

Matching is linear in the text length: each pattern is a set of alternatives with bounded gaps
(``{0,n}`` over a character class), compiled once; texts are the runtime's normalized form
(simplified, half-width).
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Iterable, Sequence

SIGNALS_VERSION = "v1.2-2"  # guideline v1.2; -2 added the contract_legal rules; bump when a pattern changes

_C = r"[^，。！？,.!?；;\n]"  # a character inside one clause


@dataclass(frozen=True)
class Signal:
    name: str
    implies: tuple[str, ...]  # classes the guideline assigns (HEAD.LABEL), e.g. ("urgency.high",)
    zh: str  # the reason as supervisors read it
    rule: str  # the guideline sentence it encodes (LABELING.md, "Decisions on hard cases added in v1.2")
    pattern: str

    def __post_init__(self):
        object.__setattr__(self, "_rx", re.compile(self.pattern))

    def matches(self, text: str) -> bool:
        return self._rx.search(text) is not None  # type: ignore[attr-defined]

    def spans(self, text: str) -> list[tuple[int, int]]:
        """``[start, end)`` of each non-empty match in ``text`` (what the review page highlights)."""
        return [m.span() for m in self._rx.finditer(text) if m.end() > m.start()]  # type: ignore[attr-defined]


SIGNALS: tuple[Signal, ...] = (
    Signal(
        "money_gone", ("urgency.high", "category.contract_legal"), "规则：资金不明减少",
        "Money gone: 卡里的钱没了 / 钱不见了 without a known reason → C, H (possible fraud or unauthorized use).",
        rf"(钱|余额|存款|资金|积蓄|卡里|卡上|账户里|账上|[0-9一二三四五六七八九十百千]+万|[0-9]+(元|块)){_C}{{0,6}}(没了|不见了|没有了|少了|消失了|被转走|被划走|被取走|不翼而飞)"
        rf"|被人?(盗刷|盗用|冒用|转走|划走)|盗刷|(卡|账户){_C}{{0,8}}被人?(刷|盗)",
    ),
    Signal(
        "not_my_charge", ("urgency.high", "category.contract_legal"), "规则：非本人交易或未经同意扣款",
        "Double charges become C, H when the customer says the charge was not theirs or made without consent.",
        rf"(无缘无故|莫名其妙|莫名|不明不白|不知道(怎么|为什么|谁|为何)|突然|平白无故|无原无故){_C}{{0,8}}(扣|刷|划|转走|少了|消费|交易|支出)"
        rf"|(不是我|非本人|不是本人){_C}{{0,4}}(消费|操作|刷|买|办|借)"
        rf"|(我|本人)(并|根本|都|也|压根|从来)?(没有?|从没|未|不)有?{_C}{{0,3}}(用过?|使用|开通|借|买|购买|消费|办理?|申请|授权|同意|刷|充|录入)"
        rf"{_C}{{0,14}}(扣|刷|逾期|还款|账单|消费|借款|欠|付款|支出)"
        rf"|(未经|没经过|没有经过|不经过?)(我|本人)?的?(同意|授权|允许|确认){_C}{{0,10}}(扣|开通|借|贷|消费|划|启用|办)",
    ),
    Signal(
        "collection_threat", ("urgency.high", "category.contract_legal"), "规则：催收威胁",
        "Late-payment consequences are H with collection threats.",
        rf"催收{_C}{{0,20}}(骚扰|威胁|辱骂|恐吓|爆通讯录|上门|侮辱)|(威胁|恐吓|辱骂){_C}{{0,10}}(我|家人|亲戚|朋友|同事)|爆我?通讯录",
    ),
    Signal(
        "lost_device", ("urgency.high",), "规则：手机或卡丢失",
        "Lost phone or card and asking to freeze the account now → P, H.",
        rf"(手机|卡片?|银行卡|信用卡|储蓄卡|钱包|U盾|身份证){_C}{{0,4}}(丢了|丢失|被偷|被盗|掉了|遗失|被抢)",
    ),
    Signal(
        "due_today_failure", ("urgency.high",), "规则：今日到期但无法还款",
        "Due today: H when the customer cannot repay before a deadline today because of the institution.",
        r"(今天|今日|今晚|马上就?)[^。！？]{0,6}(到期|还款日|最后一天|截止|逾期)[^。！？]{0,30}"
        r"(还不了|还不上|无法还|不能还|没法还|扣款失败|还款失败|失败|打不开|闪退|登[录陆]不[了上]|无法登[录陆]|进不去|用不了|卡住|转不了|付不了|不扣)"
        r"|(还不了|还不上|无法还款|还款失败|扣款失败|打不开|登[录陆]不[了上]|进不去|不扣)[^。！？]{0,20}(今天|今日)[^。！？]{0,4}(到期|还款日|最后一天|逾期)",
    ),
    Signal(
        "legal_notice", ("urgency.high", "category.contract_legal"), "规则：收到律师函或被起诉",
        "Legal notices: a lawsuit, lawyer's letter or court notice received or about to be → C, H.",
        rf"(收到|接到|寄来|发来){_C}{{0,6}}(律师函|法院|传票|起诉书|起诉状|诉状|仲裁)"
        rf"|(要|准备|将|已经|已|直接){_C}{{0,3}}起诉(我|了)|把我(告|起诉)|被(起诉|告上法庭)|等着收?律师函",
    ),
    # contract_legal alone (no urgency): the forum's credit-report and debt talk the model calls
    # product_service, which guideline v1.2 settles as C in so many words
    Signal(
        "credit_record", ("category.contract_legal",), "规则：征信记录",
        "Credit report: what is on the record, disputes, how it is affected → C (上征信, 影响征信, 征信报告); the "
        "query service itself → P.",
        rf"(上|影响|进|留在|查到|显示在|报送|上报){_C}{{0,3}}征信"
        rf"|征信{_C}{{0,4}}(记录|报告|异议|污点|修复|洗白|受影响|有逾期|黑了|花了|上有|有问题|有不良|不良)"
        rf"|人行征信|征信中心|(逾期|不良)记录",
    ),
    Signal(
        "debt_negotiation", ("category.contract_legal",), "规则：协商还款",
        "Debt negotiation: 协商还款, 停息挂账, 个性化分期, 延期还款, 减免方案 are about the agreement → C.",
        r"协商(还款|还钱|分期|减免|停息|延期|方案)|停息挂账|个性化分期|延期还款|减免方案|只还本金|分期协商",
    ),
    Signal(
        "late_consequence", ("category.contract_legal",), "规则：逾期后果",
        "Late-payment consequences: a bare 逾期了会怎么样 / 逾期有什么后果 → C.",
        rf"逾期{_C}{{0,6}}(会怎么样|会怎样|有什么后果|什么后果|有什么影响|会有什么|后果)",
    ),
    Signal(
        "own_threat", ("urgency.high",), "规则：本人投诉或报警威胁",
        "Escalation: the writer's own current threat raises urgency (再不处理我就去银保监投诉 → H).",
        rf"(再不|不给|如果不|若不|还不){_C}{{0,20}}(投诉|起诉|报警|曝光|信访|举报)"
        rf"|我(要|会|就|将|必须|一定|马上|准备|打算)去?(向|到|找)?(银保监|银监|证监|人民银行|人行|金融监管|监管|12378|消协|公安|派出所|警察|法院|律师|媒体|315)?"
        rf"{_C}{{0,4}}(投诉|报警|起诉|曝光|信访|举报|报案)"
        rf"|(等着|准备)去?(银保监|银监|监管){_C}{{0,3}}投诉|投诉(到|至)(银保监|银监|人民银行|人行|金融监管|12378)",
    ),
)

BY_NAME = {s.name: s for s in SIGNALS}
# Applied by bundles whose calibration.json predates signals: every signal, each at least 0.2 precise
# for an implied class on the training split — several times the precision of the watch threshold's
# marginal review (reports/2026-12-07-round4/signals.md).
# The list as it stood then (v1.2-1): a signal added later applies only to bundles fitted with it.
DEFAULT_SIGNALS = ("money_gone", "not_my_charge", "collection_threat", "lost_device", "due_today_failure",
                   "legal_notice", "own_threat")
REASON_PREFIX = "rule:"


def reason(name: str) -> str:
    """Review reason of a signal: ``rule:money_gone``."""
    return REASON_PREFIX + name


def signal_of(review_reason: str) -> Signal | None:
    """The signal behind a ``rule:<name>`` review reason (None for other reasons or unknown names)."""
    if not review_reason.startswith(REASON_PREFIX):
        return None
    return BY_NAME.get(review_reason[len(REASON_PREFIX):])


def check_names(names: Iterable[str]) -> tuple[str, ...]:
    """Validated signal names (``ValueError`` naming the unknown ones)."""
    names = tuple(names)
    unknown = [n for n in names if n not in BY_NAME]
    if unknown:
        raise ValueError(f"unknown rule signals {unknown}: known are {', '.join(BY_NAME)}")
    return names


def find(text: str, names: Sequence[str] | None = None) -> list[str]:
    """Names of the signals (of ``names``, default all) whose pattern occurs in the normalized ``text``."""
    chosen = SIGNALS if names is None else [BY_NAME[n] for n in names]
    return [s.name for s in chosen if s.matches(text)]
