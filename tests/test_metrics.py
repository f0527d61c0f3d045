"""The relay's Prometheus metrics read the node's counters when scraped."""

from __future__ import annotations

import collections
from types import SimpleNamespace

from prometheus_client import CollectorRegistry, generate_latest

from cercle.node.metrics import NodeCollector


def test_metrics_expose_records_rejections_peers_sync_and_latency() -> None:
    node = SimpleNamespace(
        record_count=lambda: 42,
        peer_count=lambda: 3,
        rejected=collections.Counter({"bad_signature": 2, "malformed": 1}),
        counters=collections.Counter({"sync.sessions": 5, "ingest.stored": 40}),
        gossip_latency_ms=lambda: [10.0, 20.0, 30.0, 400.0],
        unknown_kinds=lambda: {"9": 2},
    )
    registry = CollectorRegistry()
    registry.register(NodeCollector(node))
    text = generate_latest(registry).decode()
    assert "cercle_records_stored 42.0" in text
    assert 'cercle_records_rejected_total{reason="bad_signature"} 2.0' in text
    assert "cercle_peers 3.0" in text
    assert "cercle_sync_sessions_total 5.0" in text
    assert 'cercle_gossip_latency_ms{quantile="0.99"} 400.0' in text
    assert 'cercle_gossip_latency_ms{quantile="0.5"} 30.0' in text
    assert 'cercle_records_unknown_kind{kind="9"} 2.0' in text
