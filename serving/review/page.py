"""GET /review: the supervisor's workspace — the queue in working order, one item open at a time,
decided from the keyboard.

A static page (it holds no data and needs no key to load): its script asks for a supervisor key
(sessionStorage: this tab only) and calls the same API a script would — GET /v1/review (filters and
cursor in the page's own query string, so a filtered view can be bookmarked), GET /v1/items/{id}
when an item is opened, POST .../claim on the first action on it (a label, the note; renewed while
it stays open, DELETE on moving on and on `pagehide` with `fetch(keepalive)`, so browsing holds
nothing and a closed tab frees its item), GET .../explanation for the highlights, POST .../review
and .../undo — so it has exactly the API's permissions, limits and error codes. The ids of the
tab's decisions are kept in sessionStorage, so the last one can still be undone after a reload
(only while the item's latest change is that decision of this key).
Customer text is inserted with textContent, never as HTML.

Keys: j/k next/previous item, 1-4 category, a/s/d sentiment (negative/neutral/positive, left to
right), h/m/l urgency, Enter submit, u undo the tab's last decision, n note, ] / [ next /
previous page, ? help. Each key shows beside what it does.
"""
from __future__ import annotations

from functools import lru_cache

from classifier.labels import CATEGORY, DISPLAY_ZH, LABELS, SENTIMENT, URGENCY
from classifier.priority import LEVELS
from classifier.review import REASON_ZH
from serving.http.errors import messages_zh
from serving.http.templates import QUADRANT_ZH, render

HEAD_ZH = {"category": "类别", "category_secondary": "次要类别", "sentiment": "情感", "urgency": "紧急度"}
STATUS_ZH = {"pending": "待复核", "reviewed": "已复核", "not_queued": "未入队", "all": "全部"}
LEVEL_ZH = {"P1": "紧急且重要", "P2": "重要不紧急", "P3": "紧急不重要", "P4": "不紧急不重要"}
KIND_ZH = {"prediction": "模型预测", "review": "复核", "undo": "撤销", "takeover": "接手"}
KEYS = {"category": dict(zip(CATEGORY, "1234")), "sentiment": dict(zip(SENTIMENT, "asd")),
        "urgency": dict(zip(URGENCY, "hml"))}


@lru_cache(maxsize=8)
def render_review_page(route_names: tuple[tuple[str, str], ...] = (), guideline_url: str = "/guideline",
                       channel_names: tuple[tuple[str, str], ...] = ()) -> str:
    """serving/templates/review.html; its script (serving/static/review.js) reads the names, keys and
    the error messages in Chinese (the error registry's, serving/http/errors.py) from the page's data
    block. ``channel_names``: metadata.channel code -> display name (configs/routing.yaml `channels`),
    shown instead of the code and offered in the channel filter."""
    channels = dict(channel_names)
    data = {"zh": DISPLAY_ZH, "head_zh": HEAD_ZH, "level_zh": LEVEL_ZH, "quadrant_zh": QUADRANT_ZH,
            "route_zh": dict(route_names), "reasons": REASON_ZH, "kind_zh": KIND_ZH, "errors_zh": messages_zh(),
            "keys": KEYS, "statuses": STATUS_ZH, "channel_zh": channels}
    return render(
        "review.html", data=data,
        zh=DISPLAY_ZH, head_zh=HEAD_ZH, level_zh=LEVEL_ZH, reasons=REASON_ZH, keys=KEYS, statuses=STATUS_ZH,
        levels=LEVELS, heads=("category", "sentiment", "urgency"), labels=LABELS, categories=CATEGORY,
        sentiments=SENTIMENT, urgencies=URGENCY, guideline_url=guideline_url, channels=channels,
    )


def route_names(router) -> tuple[tuple[str, str], ...]:  # noqa: ANN001 - classifier.routing.Router
    """Queue name -> its Chinese name: the description in routing.yaml up to the first colon or bracket
    ("值班主管：P1 投诉 30 分钟内首次联系" -> "值班主管")."""
    names = []
    for name, queue in router.queues.items():
        short = queue.description.split("：")[0].split(":")[0].split("（")[0].split("(")[0].strip()
        names.append((name, short or name))
    return tuple(names)
