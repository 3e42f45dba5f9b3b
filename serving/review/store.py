"""Reads and changes of stored items for supervisors (blocking: call from a worker thread).

A decision re-runs the priority matrix and routing (classifier/priority.py, classifier/routing.py)
on the decided labels with the item's stored metadata and received time, and overwrites the item's
current columns; the state it replaces is kept in item_revisions, which is only ever appended to.
Concurrency is optimistic: every change is an UPDATE conditional on the revision it read, so of
two reviewers exactly one wins, on SQLite as on PostgreSQL, and the other learns it (E542).
"""
from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Callable, Iterable

from sqlalchemy import delete, func, or_, select, tuple_, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from classifier.labels import LABELLED_FIELDS, LABELS
from classifier.priority import PriorityMatrix
from classifier.routing import Router
from serving.http.errors import ClaimedByOther, InvalidCursor, ItemNotFound, NotFound, NotReviewable, StaleRevision, UnknownLabel
from serving.db import outbox
from serving.db.derived import reasons_of_heads
from serving.db.sorting import LABEL_FIELDS, current_labels, row_sort
from serving.review.views import item_view, local, predicted_labels, reviewer, revision_view
from serving.db.tables import ApiKey, ClaimTakeover, Classification, ItemExplanation, ItemRevision
from serving.db.store import from_storage, to_storage

C = Classification
PENDING = (C.needs_review.is_(True), C.reviewed_at.is_(None))
STATUSES = ("pending", "reviewed", "not_queued", "all")
_LABEL_HEAD = {label: head for head, labels in LABELS.items() for label in labels}  # label names are unique

# The queue's order: the level it sorts at (P1 first; a watched item at the level of the label watched
# for, see PriorityMatrix.sort_level), then the likeliest urgent first (P(urgency high), stored as its
# complement: serving/db/derived.urgency_risk_of), first-response deadline, uncertainty (lowest margin), age.
ORDER = (C.sort_level, C.sort_risk, C.respond_by, C.margin, C.received_at, C.id)


def reviewer_names(session: Session, ids: Iterable[int | None]) -> dict[int, dict[str, Any]]:
    wanted = {i for i in ids if i is not None}
    if not wanted:
        return {}
    rows = session.execute(select(ApiKey.id, ApiKey.name, ApiKey.prefix).where(ApiKey.id.in_(wanted)))
    return {i: {"key_id": i, "name": name, "prefix": prefix} for i, name, prefix in rows}


# --- the queue -------------------------------------------------------------------------------


@dataclass(frozen=True)
class QueueQuery:
    now: datetime  # naive UTC
    viewer: int | None = None  # claims by others hide items from this key
    status: str = "pending"
    levels: tuple[str, ...] = ()
    heads: tuple[str, ...] = ()  # items sent to review over one of these heads
    labels: tuple[str, ...] = ()  # current labels; several of one head: any, of several heads: all
    reasons: tuple[str, ...] = ()
    channel: str | None = None
    start: datetime | None = None  # naive UTC, inclusive
    end: datetime | None = None  # naive UTC, exclusive
    model_version: str | None = None
    text: str | None = None  # a substring of the (masked) text, any case
    item_id: str | None = None  # the caller's item id, exactly

    def conditions(self) -> list[Any]:
        cond: list[Any] = []
        if self.status == "pending":
            cond += PENDING
            # Another supervisor's live claim takes an item out of the work queue only: the other
            # lists show every stored item (with its claim), so status=all counts the whole table.
            cond.append(or_(C.claimed_until.is_(None), C.claimed_until <= self.now, C.claimed_by == self.viewer))
        elif self.status == "reviewed":
            cond.append(C.reviewed_at.is_not(None))
        elif self.status == "not_queued":
            cond += [C.needs_review.is_(False), C.reviewed_at.is_(None)]
        if self.levels:
            cond.append(C.level.in_(self.levels))
        reasons = set(self.reasons)
        if self.heads:
            cond.append(or_(*(C.review_reasons.contains(f",{r},", autoescape=True) for r in reasons_of_heads(self.heads))))
        if reasons:
            cond.append(or_(*(C.review_reasons.contains(f",{r},", autoescape=True) for r in sorted(reasons))))
        by_head: dict[str, list[str]] = {}
        for label in self.labels:
            by_head.setdefault(_LABEL_HEAD[label], []).append(label)
        for head, labels in by_head.items():
            cond.append(getattr(C, head).in_(labels))
        if self.channel is not None:
            cond.append(C.channel == self.channel)
        if self.start is not None:
            cond.append(C.received_at >= self.start)
        if self.end is not None:
            cond.append(C.received_at < self.end)
        if self.model_version is not None:
            cond.append(C.model_version == self.model_version)
        if self.text:
            # LIKE with % and _ escaped: what is typed is searched for literally (ILIKE on PostgreSQL,
            # lower() LIKE on SQLite; a scan of the filtered rows, bounded by the query's length).
            cond.append(C.text_masked.icontains(self.text, autoescape=True))
        if self.item_id is not None:
            cond.append(C.item_id == self.item_id)
        return cond

    def fingerprint(self) -> str:
        """Ties a cursor to the filters it was issued for (not to the time or the viewer)."""
        parts = [self.status, self.levels, self.heads, self.labels, self.reasons, self.channel,
                 self.start.isoformat() if self.start else None, self.end.isoformat() if self.end else None,
                 self.model_version, self.text, self.item_id]
        return format(binascii.crc32(json.dumps(parts, sort_keys=True, default=list).encode()), "08x")


def _encode_cursor(row: Classification, q: QueueQuery) -> str:
    key = [row.sort_level, row.sort_risk, row.respond_by.isoformat(), row.margin, row.received_at.isoformat(), row.id,
           q.fingerprint()]
    return base64.urlsafe_b64encode(json.dumps(key).encode()).decode().rstrip("=")


def _decode_cursor(cursor: str, q: QueueQuery) -> tuple:
    try:
        raw = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        level, risk, respond_by, margin, received_at, item, fingerprint = raw
        key = (str(level), float(risk), datetime.fromisoformat(respond_by), float(margin),
               datetime.fromisoformat(received_at), int(item))
    except (ValueError, TypeError, binascii.Error, json.JSONDecodeError, UnicodeDecodeError):
        raise InvalidCursor("the cursor is not one this server issued: start again without it",
                            details=[{"loc": ["query", "cursor"], "type": "invalid_cursor"}]) from None
    if fingerprint != q.fingerprint():
        raise InvalidCursor("the cursor belongs to other filters: start again without it",
                            details=[{"loc": ["query", "cursor"], "type": "cursor_filters_changed"}])
    return key


def queue_page(sessions: sessionmaker[Session], q: QueueQuery, limit: int, cursor: str | None, tz: Any
               ) -> tuple[list[dict[str, Any]], int, str | None]:
    """One page of the queue in ORDER under the filters, the total under the filters, and the
    cursor of the next page (None on the last). Keyset paging: items decided meanwhile neither
    shift nor repeat what the next page shows."""
    cond = q.conditions()
    stmt = select(C).where(*cond)
    if cursor:
        stmt = stmt.where(tuple_(*ORDER) > tuple_(*_decode_cursor(cursor, q)))
    with sessions() as session:
        rows = list(session.scalars(stmt.order_by(*ORDER).limit(limit + 1)))
        total = session.scalar(select(func.count()).select_from(C).where(*cond)) or 0
        names = reviewer_names(session, [r.reviewed_by for r in rows] + [r.claimed_by for r in rows])
    more = len(rows) > limit
    rows = rows[:limit]
    return [item_view(r, tz, names, q.now) for r in rows], total, (_encode_cursor(rows[-1], q) if more else None)


# --- one item --------------------------------------------------------------------------------


def _load(session: Session, item: int) -> Classification:
    row = session.get(C, item)
    if row is None:
        raise ItemNotFound(f"no stored item has id {item}", details={"id": item})
    return row


def get_item(sessions: sessionmaker[Session], item: int, tz: Any, now: datetime, history: bool = True) -> dict[str, Any]:
    with sessions() as session:
        row = _load(session, item)
        names = reviewer_names(session, [row.reviewed_by, row.claimed_by])
        return _with_history(session, row, tz, names, now) if history else item_view(row, tz, names, now)


def find_items(sessions: sessionmaker[Session], item_id: str, limit: int, tz: Any, now: datetime) -> list[dict[str, Any]]:
    """The stored items of a caller's item id, newest first (a ticket sent again is stored again)."""
    with sessions() as session:
        rows = list(session.scalars(select(C).where(C.item_id == item_id)
                                    .order_by(C.created_at.desc(), C.id.desc()).limit(limit)))
        names = reviewer_names(session, [r.reviewed_by for r in rows] + [r.claimed_by for r in rows])
    return [item_view(r, tz, names, now) for r in rows]


def newly_queued(sessions: sessionmaker[Session], after_id: int | None, limit: int) -> list[dict[str, Any]]:
    """Pending items with an id above ``after_id`` (any, when None) as the explainer reads them:
    the newest ``limit``, oldest first (after a flood it skips to the newest rather than lag)."""
    stmt = select(C).where(*PENDING)
    if after_id is not None:
        stmt = stmt.where(C.id > after_id)
    with sessions() as session:
        rows = list(session.scalars(stmt.order_by(C.id.desc()).limit(limit)))
    return [{"id": r.id, "text": r.text_masked, "labels": current_labels(r),
             "review_reasons": [x for x in r.review_reasons.split(",") if x]} for r in reversed(rows)]


def stored_explanation(sessions: sessionmaker[Session], item: int, key: str) -> dict[str, Any] | None:
    with sessions() as session:
        return session.scalar(select(ItemExplanation.body).where(ItemExplanation.classification_id == item,
                                                                 ItemExplanation.cache_key == key))


def save_explanation(sessions: sessionmaker[Session], item: int, key: str, model_version: str, body: dict[str, Any],
                     at: datetime) -> None:
    """Keep an explanation with its item (a concurrent save of the same one by another process wins)."""
    try:
        with sessions.begin() as session:
            session.add(ItemExplanation(classification_id=item, cache_key=key, model_version=model_version, body=body,
                                        created_at=at))
    except IntegrityError:
        pass


def prune_explanations(sessions: sessionmaker[Session], serving_version: str, before: datetime) -> int:
    """Delete explanations computed by another model version than ``serving_version`` before ``before``.

    An explanation's key holds its model version, so once the service serves another model none of
    them is read again; ``before`` leaves a rolling deploy, which serves two versions side by side, time
    to finish. Returns how many rows went."""
    with sessions.begin() as session:
        result = session.execute(delete(ItemExplanation).where(ItemExplanation.model_version != serving_version,
                                                               ItemExplanation.created_at < before))
        return int(result.rowcount or 0)


def history_rows(session: Session, row: Classification) -> list[ItemRevision]:
    """Every state in order; an item nobody decided has one: its prediction (not yet written)."""
    stored = list(session.scalars(select(ItemRevision).where(ItemRevision.classification_id == row.id)
                                  .order_by(ItemRevision.revision)))
    return stored or [_snapshot(row, 0, "prediction", None, None, row.created_at)]


def _snapshot(row: Classification, revision: int, kind: str, by: int | None, note: str | None, at: datetime) -> ItemRevision:
    return ItemRevision(classification_id=row.id, revision=revision, kind=kind, labels=current_labels(row),
                        urgent=row.urgent, important=row.important, quadrant=row.quadrant, level=row.level,
                        respond_by=row.respond_by, resolve_by=row.resolve_by, route=row.route,
                        calendar_uncovered=row.calendar_uncovered,
                        reviewed_by=by, note=note, created_at=at)


# Stores something in the decision's transaction (an Idempotency-Key record): (session, answer).
Remember = Callable[[Session, dict[str, Any]], None]


@dataclass(frozen=True)
class Rules:
    matrix: PriorityMatrix
    router: Router


def _state(row: Classification, labels: dict[str, Any], rules: Rules) -> dict[str, Any]:
    """The columns of ``row`` under ``labels``: priority and route re-run by the configured rules."""
    try:
        priority = rules.matrix.assess(labels["category"], labels["sentiment"], labels["urgency"],
                                       row.metadata_masked, from_storage(row.received_at))
        route = rules.router.route(labels["category"], labels["category_secondary"], labels["sentiment"],
                                   labels["urgency"], priority.level, row.metadata_masked)
    except ValueError as exc:  # stored by a build with other label sets
        raise NotReviewable(f"item {row.id} cannot be re-prioritised: {exc}", details={"id": row.id}) from None
    return {**labels, "urgent": priority.urgent, "important": priority.important, "quadrant": priority.quadrant,
            "level": priority.level, "respond_by": to_storage(priority.respond_by),
            "resolve_by": to_storage(priority.resolve_by), "calendar_uncovered": priority.calendar_uncovered,
            "route": route.queue}


def _final_labels(current: dict[str, Any], given: dict[str, Any]) -> dict[str, Any]:
    final = {**current, **given}
    if "category" in given and "category_secondary" not in given and final["category_secondary"] == final["category"]:
        final["category_secondary"] = None  # the old runner-up became the primary
    if final["category_secondary"] is not None and final["category_secondary"] == final["category"]:
        raise UnknownLabel(f"category_secondary must differ from category ({final['category']!r})",
                           details=[{"loc": ["body", "category_secondary"], "type": "same_as_category"}])
    return final


def _guard(row: Classification, expected: int | None, by: int | None, now: datetime, tz: Any, names: dict) -> None:
    if expected is not None and expected != row.revision:
        raise StaleRevision(
            f"item {row.id} changed since you loaded it (your revision {expected}, now {row.revision}): "
            "look at its current state and decide again", details={"item": item_view(row, tz, names, now)})
    if row.claimed_by is not None and row.claimed_by != by and row.claimed_until is not None and row.claimed_until > now:
        raise ClaimedByOther(f"item {row.id} is open with another supervisor until their claim runs out",
                             details={"item": item_view(row, tz, names, now)})


def _apply(session: Session, row: Classification, read_revision: int, values: dict[str, Any],
           snapshots: list[ItemRevision], extra_where: tuple = ()) -> bool:
    """Conditional on the revision read: False when someone else changed the item first."""
    done = session.execute(update(C).where(C.id == row.id, C.revision == read_revision, *extra_where)
                           .values(**values).execution_options(synchronize_session=False))
    if done.rowcount != 1:
        return False
    session.add_all(snapshots)
    return True


def decide(sessions: sessionmaker[Session], item: int, given: dict[str, Any], *, rules: Rules, at: datetime,
           by: int | None, note: str | None, expected_revision: int | None, tz: Any, queued_only: bool = False,
           remember: Remember | None = None) -> dict[str, Any]:
    """Record a decision on ``item``: ``given`` holds the labels set (a head left out keeps its
    current label, i.e. is confirmed). Returns the item view plus ``corrected`` (fields that now
    differ from the model's prediction) and ``changed`` (fields this decision changed).

    ``queued_only`` is POST /v1/review/{id}'s contract: only a pending item, else E517.
    ``remember`` is called with the session and the outcome before the commit (the route's
    Idempotency-Key record, stored with the decision or not at all)."""
    now = to_storage(at)
    with sessions.begin() as session:
        row = session.get(C, item)
        if row is None or (queued_only and not (row.needs_review and row.reviewed_at is None)):
            if queued_only:
                raise NotFound(f"no item {item} is waiting for review", details={"id": item})
            raise ItemNotFound(f"no stored item has id {item}", details={"id": item})
        names = reviewer_names(session, [row.reviewed_by, row.claimed_by, by])
        _guard(row, expected_revision, by, now, tz, names)
        before = current_labels(row)
        final = _final_labels(before, given)
        state = _state(row, final, rules)
        read = row.revision
        snapshots = [_snapshot(row, 0, "prediction", None, None, row.created_at)] if read == 0 else []
        values = {**state, "sort_level": state["level"], "sort_reasons": "",
                  "revision": read + 1, "reviewed_at": now, "reviewed_labels": final, "reviewed_by": by,
                  "review_note": note, "claimed_by": None, "claimed_until": None}
        snapshots.append(ItemRevision(classification_id=row.id, revision=read + 1, kind="review", labels=final,
                                      reviewed_by=by, note=note, created_at=now,
                                      **{k: v for k, v in state.items() if k not in LABEL_FIELDS}))
        if not _apply(session, row, read, values, snapshots, PENDING if queued_only else ()):
            if queued_only:
                raise NotFound(f"no item {item} is waiting for review", details={"id": item})
            session.rollback()
            return _stale(sessions, item, read, tz, at)
        session.flush()
        session.refresh(row)
        predicted = predicted_labels(row)
        corrected = [k for k in LABEL_FIELDS if final[k] != predicted[k]]
        changed = [k for k in LABEL_FIELDS if final[k] != before[k]]
        outcome = {**item_view(row, tz, names, now), "corrected": corrected, "changed": changed}
        # In this transaction: the event exists exactly when the decision does (serving/db/outbox.py).
        outbox.record_event(session, outbox.ITEM_DECIDED, outbox.decision_data(
            row, tz, kind="review", by=_by(by, names), note=note, corrected=corrected, changed=changed), tz=tz, at=now)
        if remember is not None:
            remember(session, outcome)
    return outcome


def _by(key_id: int | None, names: dict[int, dict[str, Any]]) -> dict[str, Any] | None:
    return None if key_id is None else names.get(key_id) or {"key_id": key_id, "name": None, "prefix": None}


def _stale(sessions: sessionmaker[Session], item: int, read: int, tz: Any, at: datetime):
    now = to_storage(at)
    with sessions() as session:
        row = _load(session, item)
        names = reviewer_names(session, [row.reviewed_by, row.claimed_by])
        raise StaleRevision(f"item {item} changed while you decided (your revision {read}, now {row.revision})",
                            details={"item": item_view(row, tz, names, now)})


def undo(sessions: sessionmaker[Session], item: int, *, at: datetime, by: int | None, expected_revision: int | None,
         tz: Any, rules: Rules | None = None, remember: Remember | None = None) -> dict[str, Any]:
    """Take back the latest change: a new revision restoring the state before it (never a delete).
    Undoing the only decision puts the item back where the model left it (in the queue if queued).

    Idempotent: an undo sent on revision N when revision N+1 is this caller's undo (a retry after a
    lost answer) changes nothing and answers the item; undoing twice takes two calls with the
    current revision each. Answers the item with its history; ``remember`` as in ``decide``."""
    now = to_storage(at)
    with sessions.begin() as session:
        row = _load(session, item)
        names = reviewer_names(session, [row.reviewed_by, row.claimed_by, by])
        if expected_revision is not None and row.revision == expected_revision + 1:
            latest = session.scalars(select(ItemRevision).where(ItemRevision.classification_id == item,
                                                                ItemRevision.revision == row.revision)).one_or_none()
            if latest is not None and latest.kind == "undo" and latest.reviewed_by == by:
                return _with_history(session, row, tz, names, now)  # a retry of the undo just applied
        _guard(row, expected_revision, by, now, tz, names)
        read = row.revision
        if read == 0:
            raise NotReviewable(f"item {item} has no decision to undo", details={"id": item, "revision": 0})
        back = session.scalars(select(ItemRevision).where(ItemRevision.classification_id == item,
                                                          ItemRevision.revision == read - 1)).one()
        restored = {k: getattr(back, k) for k in ("urgent", "important", "quadrant", "level", "respond_by",
                                                   "resolve_by", "calendar_uncovered", "route")}
        decided = back.kind != "prediction"
        # Back to the model's labels: the item sorts by its review reasons again.
        sort = (row_sort(row, rules.matrix, back.labels, back.level) if rules is not None and not decided
                else {"sort_level": back.level, "sort_reasons": ""})
        values = {**back.labels, **restored, **sort, "revision": read + 1,
                  "reviewed_at": now if decided else None, "reviewed_labels": back.labels if decided else None,
                  "reviewed_by": back.reviewed_by if decided else None, "review_note": back.note if decided else None}
        snapshot = ItemRevision(classification_id=item, revision=read + 1, kind="undo", labels=back.labels,
                                reviewed_by=by, note=f"撤回第 {read} 版", created_at=now, **restored)
        if not _apply(session, row, read, values, [snapshot]):
            session.rollback()
            return _stale(sessions, item, read, tz, at)
        session.flush()
        session.refresh(row)
        outbox.record_event(session, outbox.ITEM_UNDONE, outbox.decision_data(
            row, tz, kind="undo", by=_by(by, names), note=f"撤回第 {read} 版"), tz=tz, at=now)
        view = _with_history(session, row, tz, names, now)
        if remember is not None:
            remember(session, view)
        return view


def _with_history(session: Session, row: Classification, tz: Any, names: dict, now: datetime) -> dict[str, Any]:
    """The item with every state (``history``) and every take-over of a claim (``takeovers``)."""
    revisions = history_rows(session, row)
    takeovers = list(session.scalars(select(ClaimTakeover).where(ClaimTakeover.classification_id == row.id)
                                     .order_by(ClaimTakeover.id)))
    wanted = [r.reviewed_by for r in revisions] + [t.taken_by for t in takeovers] + [t.taken_from for t in takeovers]
    names.update(reviewer_names(session, [i for i in wanted if i not in names]))
    return {**item_view(row, tz, names, now), "history": [revision_view(r, tz, names) for r in revisions],
            "takeovers": [{"at": local(t.created_at, tz), "reviewer": reviewer(t.taken_by, names),
                           "taken_from": reviewer(t.taken_from, names), "note": t.note} for t in takeovers]}


# --- claims ----------------------------------------------------------------------------------


def claim(sessions: sessionmaker[Session], item: int, *, by: int, lease: timedelta, at: datetime, tz: Any,
          take_over: str | None = None) -> dict[str, Any]:
    """Hold ``item`` for ``by`` for ``lease``: the queue does not offer it to others meanwhile.
    Renewing one's own claim extends it; another's live claim is E543, unless ``take_over`` (the
    note saying why) is given: then the claim passes to ``by`` and the take-over is recorded with
    the item's history (a decision the previous holder sends afterwards is E543)."""
    now = to_storage(at)
    with sessions.begin() as session:
        free = or_(C.claimed_by.is_(None), C.claimed_until <= now, C.claimed_by == by)
        done = session.execute(update(C).where(C.id == item, free)
                               .values(claimed_by=by, claimed_until=now + lease)
                               .execution_options(synchronize_session=False))
        if done.rowcount != 1 and take_over is not None:
            held = session.execute(select(C.claimed_by, C.claimed_until).where(C.id == item)).one_or_none()
            if held is not None:  # conditional on the claim read: of two take-overs at once, one wins
                done = session.execute(update(C).where(C.id == item, C.claimed_by == held[0],
                                                       C.claimed_until == held[1])
                                       .values(claimed_by=by, claimed_until=now + lease)
                                       .execution_options(synchronize_session=False))
                if done.rowcount == 1:
                    session.add(ClaimTakeover(classification_id=item, taken_by=by, taken_from=held[0], note=take_over,
                                              created_at=now))
        row = _load(session, item)
        names = reviewer_names(session, [row.reviewed_by, row.claimed_by])
        if done.rowcount != 1:
            raise ClaimedByOther(f"item {item} is open with another supervisor until their claim runs out "
                                 "(take it over with a note if it cannot wait)",
                                 details={"item": item_view(row, tz, names, now)})
        session.flush()
        session.refresh(row)
        return _with_history(session, row, tz, names, now)


def release(sessions: sessionmaker[Session], item: int, *, by: int) -> None:
    """Give up one's own claim (another's is left alone)."""
    with sessions.begin() as session:
        session.execute(update(C).where(C.id == item, C.claimed_by == by)
                        .values(claimed_by=None, claimed_until=None).execution_options(synchronize_session=False))
        _load(session, item)


# --- training export -------------------------------------------------------------------------

# The labelled-data columns training reads, then where the decision came from (training ignores these).
EXPORT_PROVENANCE = ("item_id", "request_id", "metadata", "model_version", "revision", "reviewed_at")
EXPORT_FIELDS = (*LABELLED_FIELDS, *EXPORT_PROVENANCE)


def export_rows(sessions: sessionmaker[Session], since: datetime | None = None) -> tuple[list[dict], int]:
    """One row per item whose decision is in force: the stored, masked text with the decided labels,
    the caller's item id and request metadata; oldest decision first. A revised item appears once,
    with its latest decision, at the time of that decision. Also: how many had a label corrected."""
    rows, corrected, _ = export_page(sessions, since)
    return rows, corrected


def encode_export_cursor(reviewed_at: datetime, item: int) -> str:
    return base64.urlsafe_b64encode(json.dumps(["x", reviewed_at.isoformat(), item]).encode()).decode().rstrip("=")


def decode_export_cursor(cursor: str) -> tuple[datetime, int]:
    try:
        tag, reviewed_at, item = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        if tag != "x":
            raise ValueError(tag)
        return datetime.fromisoformat(reviewed_at), int(item)
    except (ValueError, TypeError, binascii.Error, json.JSONDecodeError, UnicodeDecodeError):
        raise InvalidCursor("the cursor is not an export cursor this server issued: start again with `since`",
                            details=[{"loc": ["query", "cursor"], "type": "invalid_cursor"}]) from None


def export_page(sessions: sessionmaker[Session], since: datetime | None = None, limit: int | None = None,
                after: str | None = None) -> tuple[list[dict], int, tuple[str | None, bool]]:
    """``export_rows`` a page at a time, in the stable order (decision time, id): rows after the
    ``after`` cursor, at most ``limit``. Also the cursor after the last row returned (``after``
    again when none: where to resume polling) and whether more rows are there now. An item decided
    again later moves to the end, with its new decision (a poller sees it again)."""
    stmt = select(C).where(C.reviewed_labels.is_not(None))
    if since is not None:
        stmt = stmt.where(C.reviewed_at >= to_storage(since))
    if after:
        stmt = stmt.where(tuple_(C.reviewed_at, C.id) > tuple_(*decode_export_cursor(after)))
    stmt = stmt.order_by(C.reviewed_at, C.id)
    if limit is not None:
        stmt = stmt.limit(limit + 1)
    with sessions() as session:
        items = list(session.scalars(stmt))
    more = limit is not None and len(items) > limit
    items = items[:limit] if limit is not None else items
    cursor = encode_export_cursor(items[-1].reviewed_at, items[-1].id) if items else after
    rows, corrected = [], 0
    for r in items:
        predicted = predicted_labels(r)
        corrected += any(r.reviewed_labels.get(k) != predicted[k] for k in LABEL_FIELDS)
        rows.append({"id": f"review-{r.id}", "text": r.text_masked, **{k: r.reviewed_labels.get(k) for k in LABEL_FIELDS},
                     "source": f"review:{r.model_version}", "item_id": r.item_id, "request_id": r.request_id,
                     "metadata": r.metadata_masked, "model_version": r.model_version, "revision": r.revision,
                     "reviewed_at": from_storage(r.reviewed_at).isoformat(timespec="seconds")})
    return rows, corrected, (cursor, more)

