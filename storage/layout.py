"""The LMDB key layout, in one place.

Every named database, its key and its value are listed here and nowhere else;
keys are built and taken apart only by the functions below (the store, the node's
settings and the local API's cursors all go through them), so no other module
knows a byte offset.  Integers in keys are packed
big-endian so that LMDB's byte order is numeric order, which makes "newest
first", "this community's records in time order" and "best-rated first" plain
cursor walks.

| database        | key                                                     | value                          |
|-----------------|---------------------------------------------------------|--------------------------------|
| ``meta``        | ``b"schema"``                                           | u32 schema version             |
| ``records``     | id(32)                                                  | the signed envelope            |
| ``scope_time``  | scope(32) ‖ created_ms(u64) ‖ id(32)                    | ``b""``                        |
| ``scope_kind``  | scope(32) ‖ kind(u8) ‖ created_ms(u64) ‖ id(32)         | ``b""``                        |
| ``author_time`` | author(32) ‖ created_ms(u64) ‖ id(32)                   | ``b""``                        |
| ``product``     | scope(32) ‖ gtin14(14 ASCII) ‖ kind(u8) ‖ id(32)        | author(32) ‖ scores (u8 each; ratings) |
| ``product_time``| scope(32) ‖ gtin14 ‖ kind(u8) ‖ created_ms(u64) ‖ id(32) | ``b""`` (schema 2)           |
| ``petition``    | petition id(32) ‖ created_ms(u64) ‖ id(32)              | author(32) of the signature    |
| ``heads``       | replace key (``records.replace_key``, specs/records.md §7.1) | order: created_ms(u64) ‖ id(32) of the winner |
| ``tombstones``  | target id(32) ‖ retracting author(32) ‖ retraction id(32) | ``b""``                      |
| ``agg_product`` | scope(32) ‖ gtin14                                      | msgpack ``[count, [sums…]]``   |
| ``rank``        | scope(32) ‖ u16(65535 − mean×1000) ‖ u32(~count) ‖ gtin14 | ``b""``                      |
| ``agg_petition``| petition id(32)                                         | u64 signature count            |
| ``scope_stats`` | scope(32)                                               | msgpack ``[records, members]`` |
| ``members``     | scope(32) ‖ author(32)                                  | u32 records by that author     |
| ``shadow``      | id(32)                                                  | envelope of a record seen but not kept (superseded, retracted, invalid in context) |
| ``local``       | ``JOINED`` ‖ community, ``MUTE``/``BLOCK`` ‖ author, ``HIDE`` ‖ id, ``MIN_TRUST`` ‖ community | node-local settings, never published (``MIN_TRUST``: u8 distance) |

Records of kinds this version does not know (``specs/records.md`` §11) have
entries in ``records``, the three time indexes, ``scope_stats`` and ``members``
only.

``shadow`` lets contextual rules see every record ever received (a retracted
charter still defines its criteria), which makes the stored state independent
of the order in which records arrive.

``scope`` is the record's community id, or 32 zero bytes for records without
one (charters, profiles, global vouches): that is the directory's scope.
"""

from __future__ import annotations

import struct

from cercle.protocol import records as R

SCHEMA_VERSION = 2  # 2 added product_time (Store migrates a version 1 store on open)

DATABASES = (
    "meta",
    "records",
    "scope_time",
    "scope_kind",
    "author_time",
    "product",
    "product_time",
    "petition",
    "heads",
    "tombstones",
    "agg_product",
    "rank",
    "agg_petition",
    "scope_stats",
    "members",
    "shadow",
    "local",
)

# Every database except these is derived from ``records`` and can be rebuilt.
PRIMARY = ("meta", "records", "tombstones", "shadow", "local")

_U64 = struct.Struct(">Q")
_U32 = struct.Struct(">I")
_U16 = struct.Struct(">H")

ID = 32  # record ids, community ids (scopes) and author keys are 32 bytes
GTIN = 14  # GTIN-14, ASCII digits
ORDER = _U64.size + ID  # created_ms(u64) ‖ id: a record's place in time order

# Prefixes of the node-local settings in ``local``.
JOINED = b"joined:"  # ‖ community id: communities this node follows
MUTE = b"mute:"  # ‖ author: their records are not shown here
BLOCK = b"block:"  # ‖ author: muted, and cut out of my trust network
HIDE = b"hide:"  # ‖ record id: not shown here
MIN_TRUST = b"mintrust:"  # ‖ community id -> u8: show only authors this close by default


def setting(prefix: bytes, subject: bytes) -> bytes:
    """A ``local`` key: one of the prefixes above and what it is about."""
    return prefix + subject


def u64(n: int) -> bytes:
    return _U64.pack(n)


def u32(n: int) -> bytes:
    return _U32.pack(n)


def read_u64(b: bytes) -> int:
    return int(_U64.unpack(b)[0])


def read_u32(b: bytes) -> int:
    return int(_U32.unpack(b)[0])


# --------------------------------------------------------------------------- time order


def order(created_ms: int, record_id: bytes) -> bytes:
    """``created_ms ‖ id``: sorts like ``records.order_key``; heads' values, page cursors."""
    return _U64.pack(created_ms) + record_id


def split_order(b: bytes) -> tuple[int, bytes]:
    """``(created_ms, id)`` from :func:`order` bytes; ValueError if they are not that."""
    if len(b) != ORDER:
        raise ValueError(f"expected {ORDER} bytes of time order, got {len(b)}")
    return int(_U64.unpack_from(b)[0]), b[_U64.size :]


def timed(prefix: bytes, created_ms: int, record_id: bytes) -> bytes:
    """``prefix ‖ created_ms ‖ id``: the shape of every time index key."""
    return prefix + order(created_ms, record_id)


def split_timed(key: bytes, prefix_len: int) -> tuple[int, bytes]:
    """``(created_ms, id)`` from a ``prefix ‖ u64 ‖ id`` key."""
    return split_order(key[prefix_len:])


def id_at_end(key: bytes) -> bytes:
    """The record id that ends every index key (time indexes, ``product``, ``petition``)."""
    return key[-ID:]


def head_id(value: bytes) -> bytes:
    """The winner's id in a ``heads`` value."""
    return value[_U64.size :]


# --------------------------------------------------------------------------- indexes


def gtin_key(gtin: str) -> bytes:
    """A GTIN as it appears in keys: its GTIN-14 form, so one product has one key."""
    return R.gtin14(gtin).encode()


def scope_kind_prefix(scope: bytes, kind: R.Kind) -> bytes:
    """``scope_kind`` keys of one kind, known or not (kinds are 1..255: one byte)."""
    return scope + bytes([kind])


def split_scope_kind(key: bytes) -> tuple[bytes, int]:
    """``(scope, kind number)`` of a ``scope_kind`` key."""
    return key[:ID], key[ID]


def product_prefix(scope: bytes, gtin: str, kind: R.Kind) -> bytes:
    """``product``/``product_time`` keys of one product's records of one kind."""
    return scope + gtin_key(gtin) + bytes([kind])


def product_value(author: bytes, scores: tuple[int, ...] = ()) -> bytes:
    """A ``product`` entry's value: the author, and a rating's scores (u8 each)."""
    return author + bytes(scores)


def split_product_value(value: bytes) -> tuple[bytes, tuple[int, ...]]:
    """``(author, scores)`` of a ``product`` entry (scores empty for descriptions)."""
    return value[:ID], tuple(value[ID:])


def agg_product_key(scope: bytes, gtin: str) -> bytes:
    return scope + gtin_key(gtin)


def members_key(scope: bytes, author: bytes) -> bytes:
    return scope + author


def tombstone_key(target: bytes, author: bytes, retraction: bytes) -> bytes:
    return target + author + retraction


def tombstone_prefix(target: bytes, author: bytes = b"") -> bytes:
    """Tombstones of ``target`` (by ``author``, if given)."""
    return target + author


def tombstone_retraction(key: bytes) -> bytes:
    """The retraction's id in a tombstone key."""
    return key[2 * ID :]


_RANK_SUFFIX = _U16.size + _U32.size + GTIN  # what follows the scope in a rank key


def rank_key(scope: bytes, gtin: str, mean_milli: int, count: int) -> bytes:
    """Best mean first, then most ratings: both stored inverted so they sort ascending."""
    return scope + _U16.pack(65535 - mean_milli) + _U32.pack(0xFFFFFFFF - count) + gtin_key(gtin)


def rank_gtin(key: bytes) -> str:
    return key[-GTIN:].decode()


def rank_cursor(key: bytes) -> bytes:
    """A page cursor after this rank entry: the key without its scope."""
    return key[ID:]


def rank_start(scope: bytes, cursor: bytes) -> bytes:
    """The rank key a :func:`rank_cursor` stands for; ValueError if it is not one."""
    if len(cursor) != _RANK_SUFFIX or not cursor[-GTIN:].isdigit():
        raise ValueError("not a rank cursor")
    return scope + cursor
