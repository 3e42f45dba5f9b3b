"""Serving error codes (E5xx) and the one error body every failure uses.

Body: ``{"error": {"code": "E5xx", "message": "...", "details": ...}}``. Each code also has a
Chinese message for the pages for people (``messages_zh``), which show it beside the code. Input errors reuse the
runtime's codes where they exist (E210 empty text, E211 text too long, E212 batch too large);
everything specific to HTTP lives here. Codes never change meaning once released.
"""
from __future__ import annotations

from typing import Any

from classifier.errors import BatchTooLarge, EmptyText, MetadataOutOfRange, TextTooLong, TriageError


class ServingError(TriageError):
    code = "E500"
    http_status = 400
    # The message as a supervisor reads it on the pages (messages_zh); the API's message stays English.
    message_zh = ""
    # Extra response headers (e.g. Retry-After, WWW-Authenticate).
    headers: dict[str, str] | None = None

    def __init__(self, message: str, details: Any = None, headers: dict[str, str] | None = None):
        super().__init__(message, details)
        if headers is not None:
            self.headers = headers


# --- E50x: authentication, authorisation, rate limiting --------------------------------------
class Unauthenticated(ServingError):
    code = "E501"
    http_status = 401
    message_zh = "密钥无效或已吊销，请重新输入"
    headers = {"WWW-Authenticate": "Bearer"}


class Forbidden(ServingError):
    code = "E502"
    http_status = 403
    message_zh = "此密钥的角色无权复核或查看（需要 supervisor 或 admin 角色）"


class RateLimited(ServingError):
    code = "E503"
    http_status = 429
    message_zh = "请求过于频繁，请稍候"


# --- E51x: malformed requests ---------------------------------------------------------------
class InvalidJSON(ServingError):
    code = "E510"
    http_status = 400
    message_zh = "请求内容不是有效的 JSON"


class BodyTooLarge(ServingError):
    code = "E511"
    http_status = 413
    message_zh = "请求内容过大"


class NotUTF8(ServingError):
    """The body is not valid UTF-8, or a string holds an unpaired surrogate."""

    code = "E512"
    http_status = 400
    message_zh = "请求中有无效的 UTF-8 / Unicode 文本"


class InvalidRequest(ServingError):
    """Wrong types, missing or unknown fields, bad query parameters."""

    code = "E513"
    http_status = 422
    message_zh = "请求参数有误"


class EmptyBatch(ServingError):
    code = "E514"
    http_status = 422
    message_zh = "请求中没有条目"


class DuplicateItemId(ServingError):
    code = "E515"
    http_status = 422
    message_zh = "同一请求中的条目编号重复"


class UnsupportedMediaType(ServingError):
    code = "E516"
    http_status = 415
    message_zh = "请求内容须为 application/json"


class NotFound(ServingError):
    code = "E517"
    http_status = 404
    message_zh = "未找到：该条目不在待复核队列中，或地址不存在"


class MethodNotAllowed(ServingError):
    code = "E518"
    http_status = 405
    message_zh = "不支持此请求方法"


class UnknownLabel(ServingError):
    """A review names a label the model does not have, or a secondary category equal to the primary."""

    code = "E519"
    http_status = 422
    message_zh = "标签无效（次要类别不能与主类别相同）"


# --- E54x: the supervisor workspace (serving/review/) ------------------------------------------
class ItemNotFound(ServingError):
    """No stored item has this id (GET/POST /v1/items/{id}...)."""

    code = "E540"
    http_status = 404
    message_zh = "条目不存在"


class NotReviewable(ServingError):
    """The item exists but this decision cannot be made on it: nothing to undo, or its stored labels
    belong to a model with other label sets."""

    code = "E541"
    http_status = 409
    message_zh = "没有可撤销的复核，或该条目的标签来自另一套标签的模型"


class StaleRevision(ServingError):
    """The item was decided (or undone) since the caller loaded it; details carry the current item."""

    code = "E542"
    http_status = 409
    message_zh = "该条目已被他人修改，已显示最新状态，请重新判断"


class ClaimedByOther(ServingError):
    """Another supervisor has the item open (its claim's lease has not run out)."""

    code = "E543"
    http_status = 409
    message_zh = "该条目正由其他主管处理"


class InvalidCursor(ServingError):
    """A queue cursor that this server did not issue, or one from other filters."""

    code = "E544"
    http_status = 422
    message_zh = "分页已失效，已回到第一页"


class ExplanationUnavailable(ServingError):
    """The stored text is empty after normalization (masking can, in principle, leave nothing)."""

    code = "E545"
    http_status = 422
    message_zh = "该文本无法生成解释"


class RevisionRequired(ServingError):
    """A decision or undo without the `revision` it was made on: it could silently overwrite a
    colleague's change, so it is refused (send the `revision` of GET /v1/items/{id} or the queue)."""

    code = "E546"
    http_status = 422
    message_zh = "缺少条目版本号（revision），请刷新后重试"


# --- E52x: the service itself -------------------------------------------------------------
class NotReady(ServingError):
    """The model is not loaded (yet) or the service is shutting down."""

    code = "E520"
    http_status = 503
    message_zh = "服务正在启动或停止，请稍候"


class Overloaded(ServingError):
    code = "E521"
    http_status = 503
    message_zh = "服务繁忙，请稍候"
    headers = {"Retry-After": "1"}


class DatabaseUnavailable(ServingError):
    code = "E522"
    http_status = 503
    message_zh = "数据库暂不可用，请稍后重试"
    headers = {"Retry-After": "5"}


class UnsupportedContentEncoding(ServingError):
    """The body is compressed (Content-Encoding other than identity): send plain JSON."""

    code = "E523"
    http_status = 415
    message_zh = "不支持压缩的请求内容"


class IdempotencyKeyReused(ServingError):
    """An Idempotency-Key already used, within the window, for a request with another body."""

    code = "E524"
    http_status = 409
    message_zh = "此幂等键已用于另一请求"


class InvalidIdempotencyKey(ServingError):
    """The Idempotency-Key header is not 1-128 printable ASCII characters."""

    code = "E525"
    http_status = 422
    message_zh = "幂等键（Idempotency-Key）格式无效"


class DeadlineExceeded(ServingError):
    """The request did not finish within the per-request deadline (TRIAGE_REQUEST_TIMEOUT_SECONDS).
    Nothing was stored for it unless its write had already begun; retry with the same
    Idempotency-Key to be sure of exactly one stored copy."""

    code = "E526"
    http_status = 504
    message_zh = "请求超时，请稍后重试"
    headers = {"Retry-After": "1"}


class TooManyItemsInFlight(ServingError):
    """This API key already has the configured number of items waiting for the model."""

    code = "E527"
    http_status = 429
    message_zh = "此密钥待处理的条目过多，请稍候"
    headers = {"Retry-After": "1"}


class TooManyInvalidKeys(ServingError):
    """Too many requests with a wrong or revoked key from this client address."""

    code = "E528"
    http_status = 429
    message_zh = "无效密钥的尝试过多，请稍后再试"


class InternalError(ServingError):
    """Unexpected failure; the body never carries a stack trace (it is logged with the request id)."""

    code = "E599"
    http_status = 500
    message_zh = "服务内部错误，请将请求编号告知管理员"


# --- E56x: model lifecycle in a running service (serving/inference/slot.py) -----------------------
class ReloadFailed(ServingError):
    """The new bundle could not be loaded or verified; the previous model keeps serving."""

    code = "E560"
    http_status = 422
    message_zh = "模型包未能加载，仍在使用原模型"


class ReloadInProgress(ServingError):
    code = "E561"
    http_status = 409
    message_zh = "模型正在重新加载，请稍后再试"


# The runtime's input errors that the API answers with (classifier/errors.py), in Chinese for the pages.
_RUNTIME_ZH: dict[type[TriageError], str] = {
    EmptyText: "文本为空、只有空白或不可见字符",
    TextTooLong: "文本超过长度上限",
    BatchTooLarge: "一次请求的条目过多",
    MetadataOutOfRange: "元数据中的数字超出范围",
}


def serving_errors() -> list[type[ServingError]]:
    """Every error class of this registry (subclasses included)."""
    found, todo = [], list(ServingError.__subclasses__())
    while todo:
        cls = todo.pop()
        found.append(cls)
        todo += cls.__subclasses__()
    return found


def messages_zh() -> dict[str, str]:
    """Code → the message in Chinese, for every code the service answers with (the review page shows it
    with the code; serving/review/page.py)."""
    out = {cls.code: zh for cls, zh in _RUNTIME_ZH.items()}
    out.update({cls.code: cls.message_zh for cls in serving_errors()})
    return dict(sorted(out.items()))


# --- E57x: webhooks (serving/webhooks/) -----------------------------------------------------
class WebhookUrlRefused(ServingError):
    """A webhook URL that is not an absolute http(s) URL with a host (file:, ftp:, javascript:, a
    relative path, credentials in the URL): the service only ever POSTs to http(s) receivers."""

    code = "E570"
    http_status = 422
    message_zh = "Webhook 地址须为带主机名的 http(s) 绝对地址"


class WebhookNotFound(ServingError):
    """No webhook subscription with this id (or it was deleted)."""

    code = "E571"
    http_status = 404
    message_zh = "Webhook 订阅不存在"


# --- E58x: API keys (serving/ops/keys.py) ----------------------------------------------------
class KeyNotFound(ServingError):
    """No API key has this id."""

    code = "E580"
    http_status = 404
    message_zh = "API 密钥不存在"


class OwnKeyRevocation(ServingError):
    """An admin asked to revoke the very key the request was made with: refused, so that nobody locks
    themselves out by mistake (revoke it with another admin key, or `triage keys revoke`)."""

    code = "E581"
    http_status = 409
    message_zh = "不能用该密钥吊销其自身，请使用另一个管理员密钥或命令行"


def error_body(code: str, message: str, details: Any = None) -> dict[str, Any]:
    return {"error": {"code": code, "message": message, "details": details}}
