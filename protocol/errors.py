"""Errors shared by the pure protocol modules.

Every way a record can be refused has one machine-readable :class:`Reason`, so a
node can count rejections by reason, a relay can export them as metrics and a
user can be told exactly what was wrong.  Like h11, errors say whose fault it
is: :class:`LocalProtocolError` when our own caller broke a rule,
:class:`RemoteProtocolError` when bytes from outside did. A record is refused
with :class:`Rejected` when a peer sent it and :class:`OwnRecordRejected` when we
signed it ourselves.
"""

from __future__ import annotations

import enum


class Reason(enum.StrEnum):
    """Why a record was rejected (stable strings: they appear in metrics and APIs)."""

    MALFORMED = "malformed"  # not msgpack, wrong shape or wrong field type
    NON_CANONICAL = "non_canonical"  # valid msgpack, but not the one canonical encoding
    OVERSIZE = "oversize"  # over MAX_RECORD_BYTES
    UNKNOWN_VERSION = "unknown_version"
    # not a kind number (an integer 1..255); a kind this version merely does not
    # know is accepted as an opaque record (specs/records.md §11)
    UNKNOWN_KIND = "unknown_kind"
    BAD_FIELD = "bad_field"  # a field has a value outside its domain
    BAD_SIGNATURE = "bad_signature"
    FUTURE_TIMESTAMP = "future_timestamp"
    TEXT_TOO_LONG = "text_too_long"
    TOO_MANY_ITEMS = "too_many_items"
    SCORE_OUT_OF_RANGE = "score_out_of_range"
    BAD_GTIN = "bad_gtin"
    NOT_NFC = "not_nfc"
    BAD_COMMUNITY = "bad_community"  # community field missing, unexpected or mismatched
    SCORE_COUNT_MISMATCH = "score_count_mismatch"  # scores do not match the charter
    LATE_SIGNATURE = "late_signature"  # signed after the petition's deadline
    NOT_AUTHOR = "not_author"  # retraction of someone else's record
    RETRACTED = "retracted"  # the record was retracted; its tombstone keeps it out
    INSUFFICIENT_POW = "insufficient_pow"


class CercleError(Exception):
    """Base class of every error raised on purpose by Cercle code."""


class Rejected(CercleError):
    """A record (or other input) was refused; ``reason`` says why, ``detail`` says where."""

    def __init__(self, reason: Reason, detail: str = "") -> None:
        self.reason = reason
        self.detail = detail
        super().__init__(f"{reason.value}: {detail}" if detail else reason.value)


class LocalProtocolError(CercleError):
    """Our own code (the caller) broke a protocol rule."""


class RemoteProtocolError(CercleError):
    """A peer sent something that breaks the protocol."""


class OwnRecordRejected(Rejected, LocalProtocolError):
    """A record we signed ourselves was refused by the rules.

    The fault is ours (the local user's input, or a bug), never a peer's: it is
    answered to the local client that asked for the record and counted apart from
    the records peers send (``Rejected`` alone).
    """
