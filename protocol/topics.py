"""GossipSub topic names: which topic carries which record.

A wire format like any other (``specs/network.md`` §2): every implementation must
publish a record on the same topic and reject it on any other, so the names and the
rule live here, once, beside the records they route. Pure: strings in, strings out.
"""

from __future__ import annotations

from typing import Final

from .records import ZERO_ID, Record

DIRECTORY_TOPIC: Final = "cercle/directory/1"
COMMUNITY_TOPIC_PREFIX: Final = "cercle/community/1/"
DIRECTORY_SCOPE: Final = ZERO_ID  # the scope of records without a community


def community_topic(community: bytes) -> str:
    """The topic of one community: the prefix and the id in lowercase hex."""
    return COMMUNITY_TOPIC_PREFIX + community.hex()


def topic_of_scope(scope: bytes) -> str:
    """The topic that carries a scope's records (the directory's for ``ZERO_ID``)."""
    return DIRECTORY_TOPIC if scope == DIRECTORY_SCOPE else community_topic(scope)


def topic_for(record: Record) -> str:
    """Community records go to their community's topic, the rest to the directory."""
    return DIRECTORY_TOPIC if record.community is None else community_topic(record.community)
