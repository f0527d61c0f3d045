"""Relay mode: what makes ``cercle relay`` different from a personal node.

A relay is the same program without an author (``specs/network.md`` §9). It differs
in four rules, all here so that the rest of the node asks instead of checking a flag:

* it **hosts** every community whose charter it stores, or only those configured
  (``[relay] communities``, ``--community``), and joins a community's topic as
  soon as it stores its charter;
* it **limits** the gossip each peer may send it (``[relay] max_records_per_s``);
* it **shares** its peers' addresses with whoever asks by peer exchange, and their
  circuit addresses through it, so that nodes behind NAT can reach each other;
* it serves circuit relay v2 (HOP), which ``net.py`` switches on.
"""

from __future__ import annotations

from cercle.node.discovery import with_peer
from cercle.node.files.config import Config
from cercle.node.net import Network
from cercle.node.pacing import TokenBucket
from cercle.protocol import records as R
from cercle.storage import Store

MAX_CHARTERS = 100_000  # communities a relay hosts, at most
ADDRS_PER_PEER = 2  # TCP addresses shared for each peer


class Relay:
    """The relay's rules, over its configuration."""

    def __init__(self, config: Config) -> None:
        self.wanted = {bytes.fromhex(c) for c in config.relay_communities}
        self.rate_limit = TokenBucket(config.max_records_per_s)

    def hosts_charter(self, community: bytes) -> bool:
        """Is a community whose charter we store one we host?"""
        return not self.wanted or community in self.wanted

    def scopes(self, store: Store) -> list[bytes]:
        """The communities hosted beyond the joined ones: known charters, configured ones."""
        known = [r.id for r in store.by_kind(R.ZERO_ID, R.Kind.COMMUNITY, limit=MAX_CHARTERS)]
        return [c for c in known if self.hosts_charter(c)] + sorted(self.wanted)

    def peer_list(self, net: Network, asking: str) -> list[str]:
        """What we answer a peer-exchange request: everyone else we are connected to."""
        mine = net.listen_addrs[0] if net.listen_addrs else None
        addrs: list[str] = []
        for peer in net.peers():
            if peer.peer_id == asking:
                continue
            tcp = [a for a in peer.addrs if "/tcp/" in a][:ADDRS_PER_PEER]
            addrs += [with_peer(a, peer.peer_id) for a in tcp]
            if mine is not None:  # reachable through us if it holds a reservation
                addrs.append(f"{mine}/p2p-circuit/p2p/{peer.peer_id}")
        return addrs
