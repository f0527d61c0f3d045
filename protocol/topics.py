"""GossipSub topic names: which topic carries which record, in which message format.

A wire format like any other (``specs/network.md`` §2): every implementation must
publish a record on the same topic and reject it on any other, so the names and the
rule live here, once, beside the records they route. Pure: strings in, strings out.

Each scope has one topic per message format, told apart by the version in the name:
version 1 carries one record per message (every Cercle node of network version 1,
and other libp2p implementations that speak it), version 2 carries batches of
records (``protocol/batch.py``). A version-2 node is on both (§2.1 of the spec).
"""

from __future__ import annotations

from typing import Final

from .records import ZERO_ID, Record

SINGLE: Final = 1  # topic version: one record per message
BATCH: Final = 2  # topic version: a batch of records per message
VERSIONS: Final = (SINGLE, BATCH)
DIRECTORY_SCOPE: Final = ZERO_ID  # the scope of records without a community
DIRECTORY_TOPIC: Final = "cercle/directory/1"
COMMUNITY_TOPIC_PREFIX: Final = "cercle/community/1/"
_DIRECTORY: Final = "cercle/directory/"
_COMMUNITY: Final = "cercle/community/"


def community_topic(community: bytes, version: int = SINGLE) -> str:
    """The topic of one community: ``cercle/community/<version>/<id, lowercase hex>``."""
    return f"{_COMMUNITY}{version}/{community.hex()}"


def topic_of_scope(scope: bytes, version: int = SINGLE) -> str:
    """The topic that carries a scope's records (the directory's for ``ZERO_ID``)."""
    if scope == DIRECTORY_SCOPE:
        return f"{_DIRECTORY}{version}"
    return community_topic(scope, version)


def topic_for(record: Record, version: int = SINGLE) -> str:
    """Community records go to their community's topic, the rest to the directory."""
    if record.community is None:
        return f"{_DIRECTORY}{version}"
    return community_topic(record.community, version)


def version_of(topic: str) -> int | None:
    """The message format of a Cercle topic (1 or 2), None for any other topic."""
    for prefix in (_DIRECTORY, _COMMUNITY):
        if topic.startswith(prefix):
            head = topic[len(prefix) :].split("/", 1)[0]
            return int(head) if head in ("1", "2") else None
    return None
