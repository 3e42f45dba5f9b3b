"""Where a text comes from, as the model may read it: the kind of channel (app review, forum comment,
service question, complaint) has its own priors — a forum comment about 征信 is usually a contract
matter, a service question about it usually not — so a model trained with ``source_input`` reads the
kind as a short Chinese tag before the text (a text pair: tag, then the text). Training only, for now:
the runtime passes texts alone, so such a run is not exported (training/errors.py, E607).

A source is given either as a kind (``app_review``, ``forum``, ``service_question``, ``complaint``) or as
the dataset names of the labelled corpus (data/README.md). Anything else, or nothing, is ``unknown``: the
model also learned that tag (a share of its training rows had their source dropped), so a caller that
does not know the channel gets the model's source-free guess rather than a wrong prior.
"""
from __future__ import annotations

import random

KIND_TAGS = {
    "app_review": "应用评价",
    "forum": "论坛评论",
    "service_question": "客服提问",
    "complaint": "投诉",
    "unknown": "未知",
}
DATASET_KINDS = {
    "icbc_app_review": "app_review",
    "ccf_bank_review": "forum",
    "atec_cs_question": "service_question",
    "bq_cs_question": "service_question",
    "unionpay_faq_question": "service_question",
    "heimao_complaint": "complaint",
}


def source_kind(source: str | None) -> str:
    """The kind of a source name (a kind itself or a corpus dataset name); ``unknown`` otherwise."""
    if not source:
        return "unknown"
    key = str(source).strip().lower()
    if key in KIND_TAGS:
        return key
    return DATASET_KINDS.get(key, "unknown")


def source_tag(source: str | None) -> str:
    """The tag the model reads before the text."""
    return KIND_TAGS[source_kind(source)]


def training_tags(sources: list[str | None], dropout: float, seed: int) -> list[str]:
    """Tags for training rows, each replaced by the ``unknown`` tag with probability ``dropout`` (seeded:
    the same rows lose their source in every run), so the model also learns to do without one."""
    rng = random.Random(seed)
    return [KIND_TAGS["unknown"] if rng.random() < dropout else source_tag(s) for s in sources]
