"""The LMDB key layout, in one place.

Every named database, its key and its value are listed here and nowhere else;
the store builds keys only through these helpers.  Integers in keys are packed
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
| ``heads``       | replace key (see ``records.replace_key``)               | id(32) of the newest record    |
| ``tombstones``  | target id(32) ‖ retracting author(32) ‖ retraction id(32) | ``b""``                      |
| ``agg_product`` | scope(32) ‖ gtin14                                      | msgpack ``[count, [sums…]]``   |
| ``rank``        | scope(32) ‖ u16(65535 − mean×1000) ‖ u32(~count) ‖ gtin14 | ``b""``                      |
| ``agg_petition``| petition id(32)                                         | u64 signature count            |
| ``scope_stats`` | scope(32)                                               | msgpack ``[records, members]`` |
| ``members``     | scope(32) ‖ author(32)                                  | u32 records by that author     |
| ``shadow``      | id(32)                                                  | envelope of a record seen but not kept (superseded, retracted, invalid in context) |
| ``local``       | b"joined:" ‖ community id, b"mute:" ‖ author, b"hide:" ‖ id … | node-local settings, never published |

``shadow`` lets contextual rules see every record ever received (a retracted
charter still defines its criteria), which makes the stored state independent
of the order in which records arrive.

``scope`` is the record's community id, or 32 zero bytes for records without
one (charters, profiles, global vouches): that is the directory's scope.
"""

from __future__ import annotations

import struct

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


def u64(n: int) -> bytes:
    return _U64.pack(n)


def u32(n: int) -> bytes:
    return _U32.pack(n)


def read_u64(b: bytes) -> int:
    return int(_U64.unpack(b)[0])


def read_u32(b: bytes) -> int:
    return int(_U32.unpack(b)[0])


def timed(prefix: bytes, created_ms: int, record_id: bytes) -> bytes:
    return prefix + _U64.pack(created_ms) + record_id


def split_timed(key: bytes, prefix_len: int) -> tuple[int, bytes]:
    """``(created_ms, id)`` from a ``prefix ‖ u64 ‖ id`` key."""
    return int(_U64.unpack_from(key, prefix_len)[0]), key[prefix_len + 8 :]


def rank_key(scope: bytes, gtin14: bytes, mean_milli: int, count: int) -> bytes:
    return scope + _U16.pack(65535 - mean_milli) + _U32.pack(0xFFFFFFFF - count) + gtin14
