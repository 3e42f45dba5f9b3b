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

from classifier.text.stopwords import STOP_WORDS as FUNCTION_WORDS

# Function words (classifier/text/stopwords.py, the list explanations skip too), then what never
# tells groups of feedback apart: verb complements, forum talk and boilerplate.
STOP_WORDS = FUNCTION_WORDS | frozenset("""
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
