"""The local API's wire codec and method table, sans-IO.

The node serves its author (the CLI, the TUI) over a Unix socket. This module is
the one definition of what travels on that socket, so that the trio server, the
blocking CLI client and the asyncio TUI client cannot disagree, and so that every
input, including garbage, can be tested without a socket (h11 style).

Framing: each message is a big-endian u32 length followed by that many bytes of
one msgpack map (``MAX_FRAME`` bounds the length). Four message shapes::

    request   {"v": 1, "id": int, "method": str, "params": map}
    response  {"v": 1, "id": int, "result": any}
    error     {"v": 1, "id": int, "error": {"code": str, "message": str
                                           [, "reason": str][, "field": str]}}
    event     {"v": 1, "event": str, "data": any}

:class:`Connection` is fed bytes (``receive_data``) and returns decoded messages
(``next_message``); anything the other side got wrong raises
:class:`MessageError`, a :class:`RemoteProtocolError` -- never another exception
type. The ``encode_*`` functions produce bytes and raise
:class:`LocalProtocolError` when our own caller passes something unencodable.

:data:`METHODS` lists every method with its parameter schema, and
:func:`check_params` validates a request's params against it, raising
:class:`ApiError` with code ``bad_params`` naming the bad field. The prose spec is
``specs/local-api.md``.
"""

from __future__ import annotations

import datetime as _dt
import enum
import struct
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final, TypeAlias

import msgpack

from .errors import CercleError, LocalProtocolError, RemoteProtocolError
from .records import (
    MAX_TIME_MS,
    SCORE_MAX,
    SCORE_MIN,
    CommunityBody,
    PetitionBody,
    ProductBody,
    ProfileBody,
    RatingBody,
    gtin_valid,
)
from .records import Int as _RecInt
from .records import Text as _RecText
from .records import TextList as _RecTextList

VERSION: Final = 1
MAX_FRAME: Final = 1024 * 1024  # bytes of msgpack in one frame (the length prefix excluded)
MAX_ID: Final = 2**32 - 1  # request ids are unsigned 32-bit integers
MAX_NAME_CHARS: Final = 64  # method and event names, error codes
MAX_DEPTH: Final = 32  # nesting of arrays and maps in one message
_HEADER = struct.Struct(">I")

# --------------------------------------------------------------------------- errors

BAD_REQUEST: Final = "bad_request"  # the message itself is malformed
BAD_PARAMS: Final = "bad_params"  # a parameter is missing, unknown or out of its domain
UNKNOWN_METHOD: Final = "unknown_method"
NOT_FOUND: Final = "not_found"  # no such community, product, petition, record, peer
REJECTED: Final = "rejected"  # the record was refused by validation; `reason` says why
NO_IDENTITY: Final = "no_identity"  # the node has no author key (relay, or not unlocked)
UNAVAILABLE: Final = "unavailable"  # the node cannot do it now (shutting down, no network)
STORAGE_FULL: Final = "storage_full"  # no room on the node's disk: not stored (not rejected)
INTERNAL: Final = "internal"  # a bug in the node
ERROR_CODES: Final = (
    BAD_REQUEST,
    BAD_PARAMS,
    UNKNOWN_METHOD,
    NOT_FOUND,
    REJECTED,
    NO_IDENTITY,
    UNAVAILABLE,
    STORAGE_FULL,
    INTERNAL,
)


class ApiError(CercleError):
    """An error answer to one request: a stable ``code`` and a message for people.

    ``reason`` is set with ``code == "rejected"``: the record :class:`Reason` string.
    ``field`` names the parameter at fault, when one is (``bad_params`` mostly), so
    that a form can show the message beside that field without reading the text.
    """

    def __init__(
        self, code: str, message: str, *, reason: str | None = None, field: str | None = None
    ) -> None:
        self.code = code
        self.message = message
        self.reason = reason
        self.field = field
        super().__init__(message)

    def __repr__(self) -> str:
        return (
            f"ApiError({self.code!r}, {self.message!r}, reason={self.reason!r}, "
            f"field={self.field!r})"
        )


class MessageError(RemoteProtocolError):
    """The other side sent a bad frame or message.

    ``request_id`` is set when the bad message was a request whose id could be
    read, so the server can answer it with a ``bad_request`` error; otherwise the
    connection should be closed. ``fatal`` means the byte stream itself is lost
    (oversize or truncated frame) and nothing more can be read from it.
    """

    def __init__(self, message: str, *, request_id: int | None = None, fatal: bool = False):
        self.request_id = request_id
        self.fatal = fatal
        super().__init__(message)


# --------------------------------------------------------------------------- messages


@dataclass(frozen=True, slots=True, kw_only=True)
class Request:
    id: int
    method: str
    params: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True, kw_only=True)
class Response:
    id: int
    result: Any


@dataclass(frozen=True, slots=True, kw_only=True)
class ErrorReply:
    id: int
    code: str
    message: str
    reason: str | None = None
    field: str | None = None

    def to_exception(self) -> ApiError:
        return ApiError(self.code, self.message, reason=self.reason, field=self.field)


@dataclass(frozen=True, slots=True, kw_only=True)
class Event:
    event: str
    data: Any = None


Message: TypeAlias = Request | Response | ErrorReply | Event


class Role(enum.Enum):
    """Which end a :class:`Connection` is: a server receives only requests."""

    SERVER = "server"
    CLIENT = "client"


def _is_int(v: object) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _as_id(v: object) -> int | None:
    return v if isinstance(v, int) and not isinstance(v, bool) and 0 <= v <= MAX_ID else None


def _is_name(v: object) -> bool:
    return isinstance(v, str) and 0 < len(v) <= MAX_NAME_CHARS


def _check_value(value: object) -> str | None:
    """Why ``value`` is not plain API data (None, bool, int, float, str, bytes, list, map)."""
    stack: list[tuple[object, int]] = [(value, 0)]
    while stack:
        v, depth = stack.pop()
        if depth > MAX_DEPTH:
            return f"nested deeper than {MAX_DEPTH}"
        if isinstance(v, list) or type(v) is tuple:  # not ExtType, a namedtuple
            stack.extend((x, depth + 1) for x in v)
        elif isinstance(v, dict):
            for k, x in v.items():
                if not isinstance(k, str):
                    return "map keys must be strings"
                stack.append((x, depth + 1))
        elif v is not None and not isinstance(v, bool | int | float | str | bytes):
            return f"unsupported value type {type(v).__name__}"
    return None


def _parse(obj: object, role: Role) -> Message:
    """Validate one decoded frame; ``MessageError`` says what is wrong."""
    if not isinstance(obj, dict):
        raise MessageError("a message must be a map")
    rid = _as_id(obj.get("id"))
    request_id = rid if role is Role.SERVER else None

    def bad(why: str) -> MessageError:
        return MessageError(why, request_id=request_id)

    if any(not isinstance(k, str) for k in obj):
        raise bad("message keys must be strings")
    v = obj.get("v")
    if not _is_int(v) or v != VERSION:
        raise bad(f"unsupported API version {v!r}; this side speaks version {VERSION}")
    keys = set(obj)
    if role is Role.SERVER:
        if keys != {"v", "id", "method", "params"}:
            raise bad("a request has exactly the keys v, id, method, params")
    elif keys not in ({"v", "id", "result"}, {"v", "id", "error"}, {"v", "event", "data"}):
        raise bad("expected a response, an error or an event")
    if "id" in keys and rid is None:
        raise bad(f"id: expected an integer 0..{MAX_ID}")
    why = _check_value(obj)
    if why is not None:
        raise bad(why)
    if "method" in keys:
        method, params = obj["method"], obj["params"]
        if not _is_name(method):
            raise bad(f"method: expected a string of 1..{MAX_NAME_CHARS} characters")
        if not isinstance(params, dict):
            raise bad("params: expected a map")
        assert rid is not None
        return Request(id=rid, method=method, params=params)
    if "result" in keys:
        assert rid is not None
        return Response(id=rid, result=obj["result"])
    if "error" in keys:
        err = obj["error"]
        if not isinstance(err, dict) or not set(err) <= {"code", "message", "reason", "field"}:
            raise bad("error: expected a map of code, message, optional reason and field")
        code, message = err.get("code"), err.get("message")
        reason, field_ = err.get("reason"), err.get("field")
        if not isinstance(code, str) or not _is_name(code) or not isinstance(message, str):
            raise bad("error: code and message must be strings")
        if reason is not None and not (isinstance(reason, str) and _is_name(reason)):
            raise bad("error: reason must be a string")
        if field_ is not None and not (isinstance(field_, str) and _is_name(field_)):
            raise bad("error: field must be a string")
        assert rid is not None
        return ErrorReply(id=rid, code=code, message=message, reason=reason, field=field_)
    event = obj["event"]
    if not _is_name(event):
        raise bad(f"event: expected a string of 1..{MAX_NAME_CHARS} characters")
    return Event(event=event, data=obj["data"])


class Connection:
    """Reassembles frames from a byte stream and decodes them into messages.

    Feed bytes with :meth:`receive_data` (``b""`` means end of stream), then call
    :meth:`next_message` until it returns ``None`` (more bytes needed). A
    :class:`MessageError` with ``fatal`` set leaves the connection in an error
    state: every later call raises again.
    """

    def __init__(self, role: Role, *, max_frame: int = MAX_FRAME) -> None:
        if max_frame < 1:
            raise LocalProtocolError("max_frame must be positive")
        self.role = role
        self.max_frame = max_frame
        self._buf = bytearray()
        self._eof = False
        self._error: str | None = None

    @property
    def buffered(self) -> int:
        """Bytes received but not yet decoded."""
        return len(self._buf)

    def receive_data(self, data: bytes) -> None:
        if self._eof:
            if data:
                raise LocalProtocolError("receive_data after end of stream")
            return
        if data:
            self._buf += data
        else:
            self._eof = True

    def _fail(self, why: str) -> MessageError:
        self._error = why
        self._buf.clear()
        return MessageError(why, fatal=True)

    def next_message(self) -> Message | None:
        if self._error is not None:
            raise MessageError(f"connection already failed: {self._error}", fatal=True)
        if len(self._buf) < _HEADER.size:
            if self._eof and self._buf:
                raise self._fail("end of stream inside a frame header")
            return None
        (length,) = _HEADER.unpack_from(self._buf)
        if length > self.max_frame:
            raise self._fail(f"frame of {length} bytes exceeds the limit of {self.max_frame}")
        end = _HEADER.size + length
        if len(self._buf) < end:
            if self._eof:
                raise self._fail(f"end of stream inside a frame of {length} bytes")
            return None
        payload = bytes(self._buf[_HEADER.size : end])
        del self._buf[:end]
        try:
            # Extension types decode to ExtType/Timestamp, which _parse refuses
            # (with the request id, when there is one).
            obj = msgpack.unpackb(payload, raw=False, strict_map_key=True, use_list=True)
        except Exception as e:  # msgpack raises many types; all mean "not one msgpack value"
            raise MessageError(f"frame is not one msgpack value: {type(e).__name__}") from None
        return _parse(obj, self.role)


# --------------------------------------------------------------------------- encoding


def _frame(obj: dict[str, Any], max_frame: int) -> bytes:
    why = _check_value(obj)
    if why is not None:
        raise LocalProtocolError(f"cannot encode message: {why}")
    try:
        payload = msgpack.packb(obj, use_bin_type=True)
    except Exception as e:  # TypeError, OverflowError, ValueError from msgpack
        raise LocalProtocolError(f"cannot encode message: {e}") from None
    assert isinstance(payload, bytes)
    if len(payload) > max_frame:
        raise LocalProtocolError(f"message of {len(payload)} bytes exceeds {max_frame}")
    return _HEADER.pack(len(payload)) + payload


def _check_id(request_id: int) -> None:
    if not _is_int(request_id) or not 0 <= request_id <= MAX_ID:
        raise LocalProtocolError(f"request id must be an integer 0..{MAX_ID}")


def _check_name(what: str, name: str) -> None:
    if not _is_name(name):
        raise LocalProtocolError(f"{what} must be a string of 1..{MAX_NAME_CHARS} characters")


def encode_request(
    request_id: int,
    method: str,
    params: Mapping[str, Any] | None = None,
    *,
    max_frame: int = MAX_FRAME,
) -> bytes:
    _check_id(request_id)
    _check_name("method", method)
    body = {"v": VERSION, "id": request_id, "method": method, "params": dict(params or {})}
    return _frame(body, max_frame)


def encode_response(request_id: int, result: Any, *, max_frame: int = MAX_FRAME) -> bytes:
    _check_id(request_id)
    return _frame({"v": VERSION, "id": request_id, "result": result}, max_frame)


def encode_error(
    request_id: int,
    code: str,
    message: str,
    *,
    reason: str | None = None,
    field: str | None = None,
    max_frame: int = MAX_FRAME,
) -> bytes:
    _check_id(request_id)
    _check_name("error code", code)
    if not isinstance(message, str):
        raise LocalProtocolError("error message must be a string")
    err: dict[str, Any] = {"code": code, "message": message}
    if reason is not None:
        _check_name("error reason", reason)
        err["reason"] = reason
    if field is not None:
        _check_name("error field", field)
        err["field"] = field
    return _frame({"v": VERSION, "id": request_id, "error": err}, max_frame)


def encode_event(event: str, data: Any = None, *, max_frame: int = MAX_FRAME) -> bytes:
    _check_name("event name", event)
    return _frame({"v": VERSION, "event": event, "data": data}, max_frame)


def encode(message: Message, *, max_frame: int = MAX_FRAME) -> bytes:
    """Any message to bytes (the inverse of :meth:`Connection.next_message`)."""
    if isinstance(message, Request):
        return encode_request(message.id, message.method, message.params, max_frame=max_frame)
    if isinstance(message, Response):
        return encode_response(message.id, message.result, max_frame=max_frame)
    if isinstance(message, ErrorReply):
        return encode_error(
            message.id,
            message.code,
            message.message,
            reason=message.reason,
            field=message.field,
            max_frame=max_frame,
        )
    return encode_event(message.event, message.data, max_frame=max_frame)


# --------------------------------------------------------------------------- params

HEX32_CHARS: Final = 64
GTIN_LENGTHS: Final = (8, 12, 13, 14)
MAX_CURSOR_CHARS: Final = 512
MAX_QUERY_CHARS: Final = 200
MAX_ADDR_CHARS: Final = 1024
LIMIT_MIN, LIMIT_MAX, LIMIT_DEFAULT = 1, 500, 50
EVENT_RECORD: Final = "record"  # a record was stored (created here, gossip or sync)
EVENT_PEER: Final = "peer"  # a peer connected or disconnected
EVENT_SYNC: Final = "sync"  # a sync session with a peer progressed or finished
EVENT_OVERFLOW: Final = "overflow"  # events were lost here: the subscriber was too slow
EVENT_NAMES: Final = (EVENT_RECORD, EVENT_PEER, EVENT_SYNC)
_HEX_DIGITS = frozenset("0123456789abcdef")


def _bad(name: str, why: str, field: str | None = None) -> ApiError:
    """``bad_params`` for ``name`` (a parameter, or an entry of one: ``field`` then)."""
    return ApiError(BAD_PARAMS, f"{name}: {why}", field=field or name)


# Each parameter spec has one ``problem(value)``: why a value is refused, or None.
# ``check`` raises it as ``bad_params``; the CLI and the TUI call ``problem`` on what
# people type, so all three refuse exactly the same values with the same words.


class _Spec:
    __slots__ = ()

    def problem(self, value: object) -> str | None:
        raise NotImplementedError

    def check(self, value: object, name: str) -> Any:
        why = self.problem(value)
        if why is not None:
            raise _bad(name, why)
        return value


@dataclass(frozen=True, slots=True)
class Str(_Spec):
    max_chars: int
    min_chars: int = 0  # counted after stripping white space, as records do

    def problem(self, value: object) -> str | None:
        if not isinstance(value, str):
            return "expected a string"
        if len(value) > self.max_chars:
            return f"{len(value)} characters, at most {self.max_chars}"
        if len(value.strip()) < self.min_chars:
            return "must not be empty"
        return None

    def describe(self) -> str:
        return f"string, {self.min_chars}..{self.max_chars} chars"


@dataclass(frozen=True, slots=True)
class Hex32(_Spec):
    """32 bytes (an id or a public key) as 64 lowercase hex characters."""

    def problem(self, value: object) -> str | None:
        if not isinstance(value, str) or len(value) != HEX32_CHARS or not set(value) <= _HEX_DIGITS:
            return "an id or key is 64 hexadecimal characters (0-9, a-f)"
        return None

    def describe(self) -> str:
        return "hex32"


@dataclass(frozen=True, slots=True)
class Gtin(_Spec):
    def problem(self, value: object) -> str | None:
        if not isinstance(value, str):
            return "expected the barcode number as a string"
        if not value:
            return "enter the barcode number (GTIN/EAN)"
        if not value.isascii() or not value.isdigit():
            return "a GTIN has digits only"
        if len(value) not in GTIN_LENGTHS:
            return f"a GTIN has 8, 12, 13 or 14 digits, not {len(value)}"
        if not gtin_valid(value):
            return "the check digit is wrong: please re-read the barcode"
        return None

    def describe(self) -> str:
        return "GTIN string"


@dataclass(frozen=True, slots=True)
class Int(_Spec):
    lo: int
    hi: int

    def problem(self, value: object) -> str | None:
        if not _is_int(value):
            return "expected an integer"
        assert isinstance(value, int)
        if not self.lo <= value <= self.hi:
            return f"{value} is out of range: from {self.lo} to {self.hi}"
        return None

    def describe(self) -> str:
        return f"int {self.lo}..{self.hi}"


@dataclass(frozen=True, slots=True)
class Bool(_Spec):
    def problem(self, value: object) -> str | None:
        return None if isinstance(value, bool) else "expected true or false"

    def describe(self) -> str:
        return "bool"


@dataclass(frozen=True, slots=True)
class List(_Spec):
    item: Str | Int | Choice
    max_items: int
    min_items: int = 0
    unique: bool = True

    def _first_problem(self, value: object) -> tuple[int | None, str] | None:
        """(entry index or None, why) of the first thing wrong with ``value``."""
        if not isinstance(value, list):
            return None, "expected an array"
        if not self.min_items <= len(value) <= self.max_items:
            return None, f"{len(value)} items, expected {self.min_items}..{self.max_items}"
        for i, v in enumerate(value):
            why = self.item.problem(v)
            if why is not None:
                return i, why
        if self.unique and len(set(value)) != len(value):
            return None, "duplicate entries"
        return None

    def problem(self, value: object) -> str | None:
        found = self._first_problem(value)
        if found is None:
            return None
        i, why = found
        return why if i is None else f"entry {i + 1}: {why}"

    def check(self, value: object, name: str) -> list[Any]:
        found = self._first_problem(value)
        if found is not None:
            i, why = found
            raise _bad(name if i is None else f"{name}[{i}]", why, field=name)
        assert isinstance(value, list)
        return value

    def describe(self) -> str:
        return f"[{self.item.describe()}] ({self.min_items}..{self.max_items})"


@dataclass(frozen=True, slots=True)
class Choice(_Spec):
    options: tuple[str, ...]

    def problem(self, value: object) -> str | None:
        if not isinstance(value, str) or value not in self.options:
            return f"expected one of {', '.join(self.options)}"
        return None

    def describe(self) -> str:
        return " | ".join(self.options)


def end_of_day_ms(day: _dt.date) -> int:
    """The last millisecond of ``day`` (UTC): a petition is open through its deadline day."""
    end = _dt.datetime.combine(day + _dt.timedelta(days=1), _dt.time(), tzinfo=_dt.UTC)
    return int(end.timestamp() * 1000) - 1


def deadline_problem(deadline_ms: int, now_ms: int) -> str | None:
    """Why a new petition cannot have this deadline, or None."""
    return "the deadline must be in the future" if deadline_ms <= now_ms else None


Spec: TypeAlias = Str | Hex32 | Gtin | Int | Bool | List | Choice
_MISSING: Final[Any] = object()


@dataclass(frozen=True, slots=True)
class Param:
    spec: Spec
    required: bool = True
    default: Any = _MISSING  # filled in by check_params when an optional param is absent


@dataclass(frozen=True, slots=True)
class Method:
    params: Mapping[str, Param]
    summary: str


def _req(spec: Spec) -> Param:
    return Param(spec)


def _opt(spec: Spec, default: Any = _MISSING) -> Param:
    return Param(spec, required=False, default=default)


def _text(body: type[Any], name: str) -> Str:
    """The record field's own length limits: one source of truth with records.py."""
    spec = dict(body.FIELDS)[name]
    assert isinstance(spec, _RecText)
    return Str(spec.max_chars, spec.min_chars)


def _texts(body: type[Any], name: str) -> List:
    spec = dict(body.FIELDS)[name]
    assert isinstance(spec, _RecTextList)
    return List(Str(spec.item.max_chars, spec.item.min_chars), spec.max_items, spec.min_items)


def _int(body: type[Any], name: str) -> Int:
    spec = dict(body.FIELDS)[name]
    assert isinstance(spec, _RecInt)
    return Int(spec.lo, spec.hi)


HEX32: Final = Hex32()
GTIN: Final = Gtin()
SCORE: Final = Int(SCORE_MIN, SCORE_MAX)
SCORES: Final = List(SCORE, 8, 1, unique=False)
CURSOR = _opt(Str(MAX_CURSOR_CHARS, 1))
LIMIT = _opt(Int(LIMIT_MIN, LIMIT_MAX), LIMIT_DEFAULT)


def normalize_hex32(text: str) -> str:
    """An id or key as people paste it (spaces around, capitals) in the API's form."""
    return text.strip().lower()


UNVETTED = _opt(Bool(), False)  # include authors outside the community's trust floor
MODERATION_ACTIONS: Final = ("mute", "block", "hide")

METHODS: Final[Mapping[str, Method]] = {
    "status": Method({}, "node version, author, peers and counts"),
    "identity.get": Method({}, "the author's public key, fingerprint and profile"),
    "profile.set": Method(
        {
            "display_name": _req(_text(ProfileBody, "display_name")),
            "about": _opt(_text(ProfileBody, "about"), ""),
        },
        "publish a profile record",
    ),
    "communities.list": Method({}, "known communities, joined ones flagged"),
    "communities.get": Method({"id": _req(HEX32)}, "one community's charter"),
    "communities.create": Method(
        {
            "name": _req(_text(CommunityBody, "name")),
            "description": _req(_text(CommunityBody, "description")),
            "values": _req(_texts(CommunityBody, "values")),
            "criteria": _req(_texts(CommunityBody, "criteria")),
            "pow_bits": _opt(_int(CommunityBody, "pow_bits"), 0),
        },
        "publish a community charter and join it",
    ),
    "communities.join": Method({"id": _req(HEX32)}, "follow a community's topic and sync it"),
    "communities.leave": Method({"id": _req(HEX32)}, "stop following a community"),
    "products.search": Method(
        {
            "query": _req(Str(MAX_QUERY_CHARS, 1)),
            "community": _opt(HEX32),
            "limit": LIMIT,
        },
        "products whose GTIN, name or brand match",
    ),
    "products.get": Method(
        {"community": _req(HEX32), "gtin": _req(GTIN)}, "a product and its scores"
    ),
    "products.ranked": Method(
        {
            "community": _req(HEX32),
            "cursor": CURSOR,
            "limit": LIMIT,
            "trusted": _opt(Bool(), False),
        },
        "a community's products, best rated first",
    ),
    "products.put": Method(
        {
            "community": _req(HEX32),
            "gtin": _req(GTIN),
            "name": _req(_text(ProductBody, "name")),
            "brand": _opt(_text(ProductBody, "brand"), ""),
            "labels": _opt(_texts(ProductBody, "labels"), []),
        },
        "publish a product record",
    ),
    "ratings.list": Method(
        {
            "community": _req(HEX32),
            "gtin": _req(GTIN),
            "cursor": CURSOR,
            "limit": LIMIT,
            "unvetted": UNVETTED,
        },
        "a product's ratings in a community, newest first",
    ),
    "ratings.put": Method(
        {
            "community": _req(HEX32),
            "gtin": _req(GTIN),
            "scores": _req(SCORES),
            "text": _opt(_text(RatingBody, "text"), ""),
        },
        "publish (or replace) the author's rating of a product",
    ),
    "petitions.list": Method(
        {"community": _req(HEX32), "cursor": CURSOR, "limit": LIMIT},
        "a community's petitions, newest first",
    ),
    "petitions.get": Method({"id": _req(HEX32)}, "one petition and its signature counts"),
    "petitions.create": Method(
        {
            "community": _req(HEX32),
            "title": _req(_text(PetitionBody, "title")),
            "text": _req(_text(PetitionBody, "text")),
            "target": _opt(_text(PetitionBody, "target"), ""),
            "goal": _req(_int(PetitionBody, "goal")),
            "deadline_ms": _req(Int(0, MAX_TIME_MS)),
        },
        "publish a petition",
    ),
    "petitions.sign": Method({"id": _req(HEX32)}, "publish the author's signature"),
    "petitions.signatures": Method(
        {"id": _req(HEX32), "cursor": CURSOR, "limit": LIMIT, "unvetted": UNVETTED},
        "a petition's signatures",
    ),
    "petitions.export": Method(
        {"id": _req(HEX32), "path": _opt(Str(4096, 1)), "overwrite": _opt(Bool(), False)},
        "a self-verifying bundle of the petition and all its signatures: written by the "
        "node to `path` (absolute), or returned as hex when small enough",
    ),
    "records.get": Method({"id": _req(HEX32)}, "any record by id, decoded"),
    "records.retract": Method({"id": _req(HEX32)}, "publish a retraction of an own record"),
    "feed": Method(
        {"community": _req(HEX32), "cursor": CURSOR, "limit": LIMIT, "unvetted": UNVETTED},
        "a community's records, newest first",
    ),
    "vouch": Method(
        {"subject": _req(HEX32), "trust": _req(Bool()), "community": _opt(HEX32)},
        "publish (or replace) a vouch for or against another author",
    ),
    "vouches.list": Method(
        {"author": _opt(HEX32), "subject": _opt(HEX32)},
        "vouches by an author (default: ours), or for a subject",
    ),
    "moderation.list": Method({}, "muted and blocked authors, hidden records, trust floors"),
    "moderation.set": Method(
        {
            "target": _req(HEX32),
            "action": _req(Choice(MODERATION_ACTIONS)),
            "on": _opt(Bool(), True),
        },
        "mute/block an author or hide a record, on this node only (never published)",
    ),
    "communities.set_min_trust": Method(
        {"id": _req(HEX32), "max_distance": _opt(Int(0, 3), None)},
        "show only authors within this trust distance by default (nil: everyone)",
    ),
    "peers.list": Method({}, "connected peers"),
    "peers.connect": Method({"addr": _req(Str(MAX_ADDR_CHARS, 1))}, "dial a multiaddr"),
    "subscribe": Method(
        {"events": _req(List(Choice(EVENT_NAMES), len(EVENT_NAMES)))},
        "set which events this connection receives ([] stops them)",
    ),
}


def check_params(method: str, params: Mapping[str, Any]) -> dict[str, Any]:
    """Validated params of one call, optional ones filled with their defaults.

    Raises :class:`ApiError` ``unknown_method`` or ``bad_params`` (naming the field).
    """
    spec = METHODS.get(method)
    if spec is None:
        raise ApiError(UNKNOWN_METHOD, f"unknown method {method[:MAX_NAME_CHARS]!r}")
    if not isinstance(params, Mapping):
        raise ApiError(BAD_PARAMS, "params: expected a map")
    for name in params:
        if name not in spec.params:
            shown = name[:MAX_NAME_CHARS] if isinstance(name, str) else repr(name)
            raise _bad(str(shown), f"unknown parameter of {method}")
    out: dict[str, Any] = {}
    for name, param in spec.params.items():
        if name in params and not (params[name] is None and not param.required):
            out[name] = param.spec.check(params[name], name)
        elif param.required:
            raise _bad(name, "missing")
        elif param.default is not _MISSING:
            d = param.default
            out[name] = list(d) if isinstance(d, list) else d  # never share a mutable default
    return out
