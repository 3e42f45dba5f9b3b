"""The published shapes of the supervisor workspace (OpenAPI): what serving/review/views.py builds."""
from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal, Optional

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StrictInt, StrictStr, model_validator

from classifier.labels import CATEGORY, SENTIMENT, URGENCY
from classifier.text.pii import mask_text

from serving.http.schemas import PriorityResult, storable, valid_unicode



# --- review ------------------------------------------------------------------------------------

REVIEW_NOTE_MAX_CHARS = 2000
# A person's free text that is stored (decision and take-over notes): masked and cleaned when parsed.
StoredNote = Annotated[StrictStr, AfterValidator(valid_unicode), AfterValidator(storable), AfterValidator(mask_text)]


class ReviewDecision(BaseModel):
    """A supervisor's decision on a queued item. A head left out keeps its predicted label
    (confirmed); an empty body confirms every prediction."""

    category: Optional[Literal[CATEGORY]] = None  # type: ignore[valid-type]
    category_secondary: Optional[Literal[CATEGORY]] = Field(  # type: ignore[valid-type]
        None, description="Send null to say there is no second category; leave out to keep the predicted one"
    )
    sentiment: Optional[Literal[SENTIMENT]] = None  # type: ignore[valid-type]
    urgency: Optional[Literal[URGENCY]] = None  # type: ignore[valid-type]
    # Masked and cleaned when parsed: a note is stored and exported, and reviewers paste phone numbers.
    note: Optional[Annotated[StrictStr, AfterValidator(valid_unicode), AfterValidator(storable),
                             AfterValidator(mask_text)]] = Field(
        None, max_length=REVIEW_NOTE_MAX_CHARS, description="Free text kept with the decision (not used for training)"
    )

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"category": "contract_legal", "urgency": "high", "note": "涉及征信，需合规跟进"}]},
    )

    def labels(self) -> dict[str, str | None]:
        """The labels the reviewer set: a head left out (or null, for the three heads) is not one."""
        given = {k: getattr(self, k) for k in self.model_fields_set if k != "note"}
        return {k: v for k, v in given.items() if v is not None or k == "category_secondary"}


class ReviewLabels(BaseModel):
    category: Literal[CATEGORY]  # type: ignore[valid-type]
    category_secondary: Optional[Literal[CATEGORY]] = None  # type: ignore[valid-type]
    sentiment: Literal[SENTIMENT]  # type: ignore[valid-type]
    urgency: Literal[URGENCY]  # type: ignore[valid-type]


class ReviewOutcome(BaseModel):
    id: int
    reviewed: Literal[True]
    labels: ReviewLabels = Field(description="The labels the item is stored with for training")
    corrected: list[str] = Field(description="Fields whose label differs from the prediction")
    priority: Optional[dict[str, Any]] = Field(None, description="The priority re-run on the decided labels")
    route: Optional[str] = Field(None, description="The route re-run on the decided labels")
    revision: Optional[int] = Field(None, description="The item's revision after the decision (GET /v1/items/{id})")

    model_config = ConfigDict(
        json_schema_extra={"examples": [{"id": 42, "reviewed": True, "corrected": ["category"], "labels": {
            "category": "contract_legal", "category_secondary": None, "sentiment": "negative", "urgency": "high"}}]},
    )


class Reviewer(BaseModel):
    key_id: int
    name: Optional[str] = Field(None, description="The key's name (`triage keys create --name`)")
    prefix: Optional[str] = Field(None, description="The key's display prefix")


class ReviewInfo(BaseModel):
    reviewed_at: datetime
    reviewer: Optional[Reviewer] = None
    note: Optional[str] = None


class Claim(BaseModel):
    reviewer: Optional[Reviewer] = None
    until: datetime = Field(description="When the claim's lease runs out")


class SortRaise(BaseModel):
    level: str = Field(description="The level the queue sorts the item at (more pressing than `priority.level`)")
    raised_by: list[str] = Field(description="The review reasons that raised it: possible_<label> or rule:<name>")
    note: str = Field(description="The same for people, e.g. 疑似紧急：按P1排序")


class Item(BaseModel):
    id: int = Field(description="Stored item id: the `{id}` of /v1/items/{id} and POST /v1/review/{id}")
    item_id: str = Field(description="The id the ticket system sent to /v1/classify")
    request_id: str
    text: str = Field(description="The text with personal data masked")
    metadata: dict[str, Any] = Field(description="The request metadata (masked)")
    model_version: str
    received_at: datetime
    predictions: dict[str, Any] = Field(description="What the model said: per head label/confidence/scores, "
                                                    "category_secondary, review_heads, review_reasons (never changes)")
    labels: ReviewLabels = Field(description="The labels in force: the prediction, or the latest decision")
    priority: PriorityResult = Field(description="Priority of the labels in force (re-run on every decision)")
    route: str = Field(description="Queue of the labels in force (re-run on every decision)")
    needs_review: bool
    review_reasons: list[str]
    margin: float = Field(description="Smallest top-1 minus top-2 probability over the heads (lower: less sure)")
    sort: Optional[SortRaise] = Field(None, description="Set when the item is watched for a high-stakes label and "
                                      "the queue sorts it at the level that label would give (its priority and "
                                      "deadlines stay those of the labels in force until a person decides)")
    status: Literal["pending", "reviewed", "not_queued"]
    revision: int = Field(description="Number of the current state (0: the prediction); send it with a decision")
    review: Optional[ReviewInfo] = None
    claim: Optional[Claim] = Field(None, description="A live claim: the item is open with this supervisor")


class ItemList(BaseModel):
    items: list[Item] = Field(description="Newest first")


class Revision(BaseModel):
    revision: int
    kind: Literal["prediction", "review", "undo"]
    at: datetime
    reviewer: Optional[Reviewer] = None
    labels: ReviewLabels
    priority: PriorityResult
    route: str
    note: Optional[str] = None


class Takeover(BaseModel):
    at: datetime
    reviewer: Optional[Reviewer] = Field(None, description="Who took the claim over")
    taken_from: Optional[Reviewer] = Field(None, description="Whose claim it was")
    note: str = Field(description="Why (masked)")


class ItemWithHistory(Item):
    history: list[Revision] = Field(description="Every state, oldest first (append-only)")
    takeovers: list[Takeover] = Field(default_factory=list, description="Claims taken over from another supervisor, "
                                      "oldest first (append-only)")


class History(BaseModel):
    id: int
    revision: int
    history: list[Revision]
    takeovers: list[Takeover] = Field(default_factory=list)


class ClaimRequest(BaseModel):
    """Optional body of POST /v1/items/{id}/claim: without it (or with ``take_over`` false) another
    supervisor's live claim is 409 E543."""

    take_over: bool = Field(False, description="Take the item over from the supervisor holding it (the take-over is "
                                               "recorded with the item's history; their decision is then refused)")
    note: Optional[StoredNote] = Field(
        None, min_length=1, max_length=REVIEW_NOTE_MAX_CHARS, description="Why: required with `take_over`")

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [
        {"take_over": True, "note": "客户已第三次来电，王主管今天休假，由我接手"}]})

    @model_validator(mode="after")
    def _note_with_take_over(self) -> "ClaimRequest":
        if self.take_over and not (self.note or "").strip():
            raise ValueError("a take-over needs a note saying why")
        return self


class DecisionOutcome(Item):
    corrected: list[str] = Field(description="Fields whose label in force differs from the model's prediction")
    changed: list[str] = Field(description="Fields this decision changed")


class Queue(BaseModel):
    total: int = Field(description="Items under the filters (all pages)")
    items: list[Item] = Field(description="P1 first (a watched item at its `sort.level`), then first-response "
                                          "deadline, lowest margin, oldest")
    next_cursor: Optional[str] = Field(None, description="Pass as `cursor` for the next page; null on the last page")


class ItemDecision(ReviewDecision):
    """Labels given replace the ones in force; a head left out is confirmed. `revision` is the one
    the decision was made on (from GET /v1/items/{id} or the queue): if the item changed since,
    the decision is refused with E542 and the current item."""

    revision: Optional[StrictInt] = Field(None, ge=0, description="The item's revision you saw (required: "
                                          "without it the decision is refused with E546)")

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [
        {"category": "contract_legal", "urgency": "high", "note": "涉及征信，需合规跟进", "revision": 0}]})

    def labels(self) -> dict[str, str | None]:
        return {k: v for k, v in super().labels().items() if k != "revision"}


class UndoRequest(BaseModel):
    revision: Optional[StrictInt] = Field(None, ge=0, description="The item's revision you saw (required, E546 "
                                          "without it); a retry of an undo that was applied answers the item as is")

    model_config = ConfigDict(extra="forbid")


class Span(BaseModel):
    text: str
    start: int = Field(description="Offset in the item's (masked) text, in characters")
    end: int


class Highlight(BaseModel):
    segment: int = Field(description="The occlusion unit (`unit` of `segments`)")
    text: str = Field(description="Its words (… where fillers between them stayed in place)")
    start: int = Field(description="Offset in the item's (masked) text, in characters")
    end: int
    parts: list[Span] = Field(description="The words occluded together (one, unless a long text was grouped)")
    delta: float = Field(description="How much the label's probability drops without these words")


class HeadWeights(BaseModel):
    label: str
    probability: float
    top: list[Highlight]
    reviewed: Optional["HeadWeights"] = Field(None, description="The same for the reviewer's label, when it differs")


class WatchedWeights(BaseModel):
    reason: str = Field(description="The review reason: possible_high_urgency, possible_contract_legal, rule:<name>")
    reason_zh: str
    head: str
    label: str = Field(description="The class the item is watched for")
    probability: float = Field(description="The model's probability of that class")
    top: list[Highlight]
    matched: list[Span] = Field(description="Where a rule's pattern matched (empty for possible_* reasons)")


class Explanation(BaseModel):
    id: int
    model_version: str
    method: Literal["occlusion"]
    segments: list[dict[str, Any]] = Field(description="The jieba words: text, start, end, filler (a stop word or "
                                                       "punctuation: never occluded), unit (its occlusion unit)")
    heads: dict[str, HeadWeights]
    watched: list[WatchedWeights] = Field(description="Why the item is watched: one entry per class a watch reason "
                                                      "names (empty for an item queued for uncertainty alone)")
    cached: bool
    elapsed_ms: float


# --- team: bulk confirm, reviewer figures --------------------------------------------------------

BULK_MAX_ITEMS = 100


class BulkItem(BaseModel):
    id: StrictInt = Field(ge=1, le=2**31 - 1, description="The stored item's `id`")
    revision: StrictInt = Field(ge=0, description="The item's revision you saw (as on a single decision)")

    model_config = ConfigDict(extra="forbid")


class BulkConfirm(BaseModel):
    """Confirm the model's labels on several items: each is one decision, as POST
    /v1/items/{id}/review with no labels would make it."""

    items: list[BulkItem] = Field(min_length=1, max_length=BULK_MAX_ITEMS)
    note: Optional[StoredNote] = Field(None, max_length=REVIEW_NOTE_MAX_CHARS,
                                       description="Kept with each decision (not used for training)")

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [
        {"items": [{"id": 12, "revision": 0}, {"id": 15, "revision": 0}], "note": "批量确认"}]})

    @model_validator(mode="after")
    def _distinct(self) -> "BulkConfirm":
        ids = [i.id for i in self.items]
        if len(set(ids)) != len(ids):
            raise ValueError("an item is listed twice: each id once")
        return self


class BulkFailure(BaseModel):
    code: str
    message: str


class BulkResult(BaseModel):
    id: int
    ok: bool
    item: Optional[DecisionOutcome] = Field(None, description="The decided item, as a single decision answers it")
    error: Optional[BulkFailure] = Field(None, description="Why this item was not confirmed (E540, E541, E542, E543)")


class BulkOutcome(BaseModel):
    confirmed: int
    failed: int
    results: list[BulkResult] = Field(description="One per item sent, in the order sent")


class Overturn(BaseModel):
    decisions: int
    overturned: int
    rate: Optional[float] = Field(description="overturned / decisions (null without decisions)")


class HeadOverturn(Overturn):
    by_label: dict[str, Overturn] = Field(description="By the model's label")


class TimeToDecision(BaseModel):
    first_decisions: int
    minutes_p50: Optional[float]
    minutes_p90: Optional[float]
    within_deadline_rate: Optional[float] = Field(description="Decided by the first-response deadline in force")
    minutes_left_p50: Optional[float] = Field(description="Median time left to that deadline (negative: late)")


class ReviewerFigures(BaseModel):
    decisions: int
    active_hours: int
    decisions_per_active_hour: Optional[float]
    overturn: dict[str, HeadOverturn]
    time_to_decision: TimeToDecision


class ReviewerRow(ReviewerFigures):
    reviewer: dict[str, Any] = Field(description="key_id, name, prefix of the reviewer's API key")


class Figures(BaseModel):
    from_: str = Field(alias="from")
    to: str
    team: ReviewerFigures
    reviewers: list[ReviewerRow] = Field(description="Most decisions first")
