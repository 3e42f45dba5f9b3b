"""Top terms per group of texts (a category, a matrix cell) by class-based TF-IDF.

Why class-based: plain TF-IDF ranks words per document; an analyst asks what sets one group apart
from the others. c-TF-IDF (as in BERTopic) treats each group as one document: a term's frequency
in the group, weighted by ``log(1 + A / f)`` where ``A`` is the mean number of words per group and
``f`` the term's frequency over all groups, so words every group uses (银行, 客服) sink.

Words come from the project's jieba segmenter (with the financial dictionary) so that 年费,
提前还款 and 12378 stay whole; stop words, punctuation, numbers and single characters are dropped,
and so is the noise real feedback showed at the top of a group (issue 28: 不了, 你家, 三楼): verb
complements, "your shop"-style pronouns, forum floor numbers. In a group of 10 texts or more a term
must occur in at least two of them: one customer repeating a word is not what a group is about.
"""
from __future__ import annotations

import math
import re
from collections import Counter
from typing import Callable, Iterable, Mapping, Sequence

# Function words and feedback boilerplate that never tell groups apart (a compact list in the spirit
# of the common Chinese stop-word lists: pronouns, particles, conjunctions, degree words, fillers).
STOP_WORDS = frozenset("""
的 了 是 我 你 他 她 它 我们 你们 他们 她们 它们 这 那 这个 那个 这些 那些 这样 那样 这么 那么 这里 那里 哪 哪里 什么 怎么
怎么办 怎样 为什么 为何 吗 呢 吧 啊 呀 哦 哈 嘛 啦 么 着 过 和 与 及 或 或者 并 并且 而 而且 但 但是 可是 不过 然而 因为 所以
因此 如果 要是 虽然 即使 就 才 都 也 还 又 再 很 太 非常 特别 比较 更 最 挺 真 真的 好像 已经 正在 一直 一下 一些 一点 一个 一次
有 没有 没 不 不是 不会 不能 不要 不用 会 能 能够 可以 可能 应该 需要 要 想 让 把 被 给 对 对于 向 从 在 到 于 为 以 用 跟 比 等
等等 之 其 其他 其中 自己 大家 本人 人家 个 些 上 下 中 里 后 前 时 时候 现在 今天 昨天 之前 之后 以后 以前 然后 还是 就是 只是
只 还有 所有 每 各 该 此 如何 多少 几 谁 啥 咋 请问 请 谢谢 您好 你好 麻烦 一样 这种 那种 东西 事情 问题 情况 方面 进行 通过
而是 还要 得 地 之类 其实 确实 根本 完全 总是 经常 马上 立即 终于 居然 竟然 简直 到底 究竟 一定 肯定 当然 只能 只有 除了
不了 不到 不上 不起 不出 不来 不去 得了 起来 出来 下来 上来 过来 回来 一下子 的话 这边 那边 这次 那次 每次 有点 有些
你家 我家 他家 你们家 我们家 人家 咱们 咱 俺 楼主 楼上 楼下 沙发 小编 各位 大家好 就是说 为了 正是 这是
""".split())
# Forum floor numbers (一楼, 三楼, 12楼) and reply markers: where a comment sits, not what it says.
_FLOOR = re.compile(r"[一二两三四五六七八九十百千\d]+楼")

_KEEP = re.compile(r"[\w\u4e00-\u9fff]")
_NUMBER = re.compile(r"[\d.,%％]+")


def useful(word: str) -> bool:
    """A word worth counting: not a stop word, a number, punctuation or a single character."""
    return (len(word) > 1 and word not in STOP_WORDS and _NUMBER.fullmatch(word) is None
            and _FLOOR.fullmatch(word) is None and bool(_KEEP.search(word)))


MIN_TEXTS_FOR_MIN_DF = 10  # groups this large count a term only when two of their texts use it


def class_weights(groups: Mapping[str, Iterable[Sequence[str]]]) -> dict[str, dict[str, float]]:
    """``{group: {term: c-TF-IDF weight}}`` for every term a group keeps (see the module docstring)."""
    groups = {g: [list(words) for words in texts] for g, texts in groups.items()}
    counts = {g: Counter(w for words in texts for w in words) for g, texts in groups.items()}
    spread = {g: Counter(w for words in texts for w in set(words)) for g, texts in groups.items()}
    totals = {g: sum(c.values()) for g, c in counts.items()}
    overall: Counter = Counter()
    for c in counts.values():
        overall.update(c)
    nonempty = [t for t in totals.values() if t]
    mean_words = sum(nonempty) / len(nonempty) if nonempty else 0.0
    out: dict[str, dict[str, float]] = {}
    for g, c in counts.items():
        min_df = 2 if len(groups[g]) >= MIN_TEXTS_FOR_MIN_DF else 1
        out[g] = {t: (n / totals[g]) * math.log(1 + mean_words / overall[t])
                  for t, n in c.items() if spread[g][t] >= min_df} if totals[g] else {}
    return out


def class_tfidf(groups: Mapping[str, Iterable[Sequence[str]]], top: int = 10) -> dict[str, list[tuple[str, float]]]:
    """``{group: [(term, weight), …]}``, the ``top`` terms of each group, heaviest first.

    ``groups`` maps a group to its texts' word lists (already segmented and filtered).
    """
    return {g: [(t, round(w, 6)) for t, w in sorted(weights.items(), key=lambda kv: (-kv[1], kv[0]))[:top]]
            for g, weights in class_weights(groups).items()}


def segment_all(texts: Iterable[str], words: Callable[[str], list[str]] | None = None) -> list[list[str]]:
    """Each text's useful words, with the project's segmenter unless ``words`` is given."""
    if words is None:
        from classifier.text.segment import get_segmenter

        words = get_segmenter().words
    return [[w for w in words(t) if useful(w)] for t in texts]
