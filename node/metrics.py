"""Prometheus metrics for relays: what an operator watches.

A custom collector reads the node's counters when scraped, so the hot paths
only bump plain counters and never touch the metrics library.  The endpoint
is prometheus_client's small HTTP server thread.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Protocol

from prometheus_client import REGISTRY, start_http_server
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric


class MetricsSource(Protocol):
    """What the collector reads of a node (``serve.Node``)."""

    @property
    def rejected(self) -> Mapping[str, int]: ...
    @property
    def counters(self) -> Mapping[str, int]: ...

    def record_count(self) -> int: ...
    def peer_count(self) -> int: ...
    def gossip_latency_ms(self) -> list[float]: ...
    def unknown_kinds(self) -> dict[str, int]: ...


class NodeCollector:
    def __init__(self, node: MetricsSource) -> None:
        self.node = node

    def collect(self) -> Iterator[Metric]:
        node = self.node
        stored = GaugeMetricFamily("cercle_records_stored", "records held by this node")
        stored.add_metric([], node.record_count())
        yield stored
        rejected = CounterMetricFamily(
            "cercle_records_rejected", "records rejected, by reason", labels=["reason"]
        )
        for reason, n in sorted(node.rejected.items()):
            rejected.add_metric([reason], n)
        yield rejected
        peers = GaugeMetricFamily("cercle_peers", "connected peers")
        peers.add_metric([], node.peer_count())
        yield peers
        sessions = CounterMetricFamily("cercle_sync_sessions", "sync sessions completed")
        sessions.add_metric([], node.counters.get("sync.sessions", 0))
        yield sessions
        events = CounterMetricFamily("cercle_events", "node counters", labels=["name"])
        for name, n in sorted(node.counters.items()):
            events.add_metric([name], n)
        yield events
        unknown = GaugeMetricFamily(
            "cercle_records_unknown_kind",
            "records kept of kinds this version does not know",
            labels=["kind"],
        )
        for kind, n in sorted(node.unknown_kinds().items()):
            unknown.add_metric([kind], n)
        yield unknown
        lat = sorted(node.gossip_latency_ms())
        latency = GaugeMetricFamily(
            "cercle_gossip_latency_ms", "record age on gossip arrival", labels=["quantile"]
        )
        for q in (0.5, 0.99):
            latency.add_metric([str(q)], lat[min(len(lat) - 1, int(q * len(lat)))] if lat else 0)
        yield latency


def start_metrics(node: MetricsSource, hostport: str) -> None:
    host, _, port = hostport.rpartition(":")
    REGISTRY.register(NodeCollector(node))
    start_http_server(int(port), addr=host or "127.0.0.1")
