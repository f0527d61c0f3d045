"""Canonical msgpack: one value, one encoding.

Signatures and record ids are computed over bytes, so two encodings of the same
value would give two ids for one record and let a relay re-encode a record
into something that still verifies but is "different".  We therefore accept a
msgpack document only if re-encoding the decoded value gives back exactly the
input bytes.  The encoder we use (msgpack-python with ``use_bin_type``) always
writes the shortest form of each integer, string, binary and array header, so
this round-trip check rejects every other encoding of the same value.

Allowed values are deliberately few: ``None``, ``bool``, ``int``, ``str``
(UTF-8, NFC), ``bytes`` and arrays of those.  No maps (field order is fixed by
position instead) and no floats (they have several encodings and no exact
meaning).
"""

from __future__ import annotations

import unicodedata
from typing import Any

import msgpack

from .errors import Reason, Rejected

Value = None | bool | int | str | bytes | list["Value"]

MAX_DEPTH = 4
INT_MIN = -(2**63)
INT_MAX = 2**64 - 1


def encode(value: Value) -> bytes:
    """Encode ``value`` canonically.

    Raises ``TypeError`` for values outside the model and ``ValueError`` for
    strings not in NFC form (callers normalise user text first).
    """
    try:
        _check_model(value, 0, strict_nfc=True)
    except Rejected as exc:
        raise ValueError(str(exc)) from None
    out: bytes = msgpack.packb(value, use_bin_type=True)
    return out


def decode(data: bytes, *, max_len: int) -> Value:
    """Decode canonical msgpack, or raise :class:`Rejected` saying why not."""
    if len(data) > max_len:
        raise Rejected(Reason.OVERSIZE, f"{len(data)} bytes > {max_len}")
    try:
        value: Any = msgpack.unpackb(
            data,
            raw=False,
            use_list=True,
            strict_map_key=True,
            max_bin_len=max_len,
            max_str_len=max_len,
            max_array_len=max_len,
            max_map_len=0,
            max_ext_len=0,
            ext_hook=_no_ext,
        )
    except Rejected:
        raise
    except Exception as exc:  # msgpack raises several unrelated types on bad input
        raise Rejected(Reason.MALFORMED, f"not msgpack: {type(exc).__name__}") from None
    try:
        _check_model(value, 0, strict_nfc=True)
    except TypeError as exc:
        raise Rejected(Reason.MALFORMED, str(exc)) from None
    if msgpack.packb(value, use_bin_type=True) != data:
        raise Rejected(Reason.NON_CANONICAL, "bytes are not the canonical encoding")
    return value  # type: ignore[no-any-return]


def _no_ext(code: int, data: bytes) -> None:
    raise Rejected(Reason.MALFORMED, f"msgpack extension type {code} not allowed")


def _check_model(value: object, depth: int, *, strict_nfc: bool) -> None:
    if value is None or isinstance(value, bool | bytes):
        return
    if isinstance(value, int):
        if not INT_MIN <= value <= INT_MAX:
            raise TypeError("integer out of range")
        return
    if isinstance(value, str):
        if strict_nfc and not unicodedata.is_normalized("NFC", value):
            raise Rejected(Reason.NOT_NFC, "string is not in Unicode NFC form")
        return
    if isinstance(value, list):
        if depth >= MAX_DEPTH:
            raise TypeError("arrays nested too deep")
        for item in value:
            _check_model(item, depth + 1, strict_nfc=strict_nfc)
        return
    raise TypeError(f"type {type(value).__name__} is not allowed in canonical msgpack")
