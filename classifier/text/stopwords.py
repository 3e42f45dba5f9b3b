"""Chinese function words and fillers: words that carry no meaning of their own in a complaint.

One list for the project: the analysts' top terms drop these words, and the review page's explanations
never highlight them. Neither jieba nor any package the project installs ships a Chinese list (jieba's
``analyse.STOP_WORDS`` is English); the common public lists (哈工大, 百度, 四川大学) run to 1,500+
entries, among them words that decide a complaint here (投诉, 还款 are in some). So a compact list in
their spirit: pronouns, particles, conjunctions, prepositions, degree words, interjections and
feedback boilerplate.
"""
from __future__ import annotations

STOP_WORDS = frozenset("""
的 了 是 我 你 他 她 它 我们 你们 他们 她们 它们 这 那 这个 那个 这些 那些 这样 那样 这么 那么 这里 那里 哪 哪里 什么 怎么
怎么办 怎样 为什么 为何 吗 呢 吧 啊 呀 哦 哈 嘛 啦 么 着 过 和 与 及 或 或者 并 并且 而 而且 但 但是 可是 不过 然而 因为 所以
因此 如果 要是 虽然 即使 就 才 都 也 还 又 再 很 太 非常 特别 比较 更 最 挺 真 真的 好像 已经 正在 一直 一下 一些 一点 一个 一次
有 没有 没 不 不是 不会 不能 不要 不用 会 能 能够 可以 可能 应该 需要 要 想 让 把 被 给 对 对于 向 从 在 到 于 为 以 用 跟 比 等
等等 之 其 其他 其中 自己 大家 本人 人家 个 些 上 下 中 里 后 前 时 时候 现在 今天 昨天 之前 之后 以后 以前 然后 还是 就是 只是
只 还有 所有 每 各 该 此 如何 多少 几 谁 啥 咋 请问 请 谢谢 您好 你好 麻烦 一样 这种 那种 东西 事情 问题 情况 方面 进行 通过
而是 还要 得 地 之类 其实 确实 根本 完全 总是 经常 马上 立即 终于 居然 竟然 简直 到底 究竟 一定 肯定 当然 只能 只有 除了
您 咱 咱们 俺 嗯 嗯嗯 哎 唉 呃 额 诶 呗 咯 喔 噢 哟 呵 呵呵 哈哈 嘿 哇 嘞 滴 哒 耶 呐 哼 啥的 之类的 一般 这边 那边 然后呢
""".split())


def is_filler(word: str) -> bool:
    """True for a word that says nothing by itself: a stop word, or no letter, digit or hanzi in it
    (punctuation, symbols, the stars of a masked number). Laughter and hesitation runs
    (哈哈哈哈, 嗯嗯嗯) count as fillers at any length."""
    if word in STOP_WORDS or not any(ch.isalnum() for ch in word):
        return True
    return len(set(word)) == 1 and word[0] in "哈嗯呵啊哦嘿额呃"
