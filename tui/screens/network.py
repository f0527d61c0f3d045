"""The network: peers, topics, sync sessions, and records rejected and why."""

from __future__ import annotations

import asyncio
from typing import Any, ClassVar

from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.widgets import DataTable, Static

from cercle.tui import format as fmt
from cercle.tui.messages import PeerChanged, SyncProgress
from cercle.tui.screens.base import BaseScreen
from cercle.tui.widgets.table import FastTable


class NetworkScreen(BaseScreen):
    """What the node is connected to and what it refused (live on peer/sync events)."""

    DEFAULT_CSS = """
    NetworkScreen #network-summary {
        height: auto;
        padding: 0 1;
        border-bottom: solid $primary;
    }
    NetworkScreen .section-title {
        text-style: bold;
        padding: 0 1;
    }
    NetworkScreen Horizontal {
        height: 1fr;
    }
    NetworkScreen Vertical {
        width: 1fr;
    }
    NetworkScreen DataTable {
        height: 1fr;
    }
    """
    DEBOUNCE_S: ClassVar[float] = 0.5

    def __init__(self) -> None:
        super().__init__()
        self.status: dict[str, Any] = {}
        self.peers: list[dict[str, Any]] = []
        self.names: dict[str, str] = {}  # community id -> name

    def compose_body(self) -> ComposeResult:
        yield Static(id="network-summary", markup=False)
        with Horizontal():
            with Vertical():
                yield Static("Peers", classes="section-title")
                peers: DataTable[str] = FastTable(id="peers", cursor_type="row")
                peers.add_columns("Peer", "Role", "Address")
                yield peers
                yield Static("Topics", classes="section-title")
                topics: DataTable[str] = FastTable(id="topics", cursor_type="row")
                topics.add_columns("Community", "Topic")
                yield topics
            with Vertical():
                yield Static("Sync sessions", classes="section-title")
                sync: DataTable[str] = FastTable(id="sync", cursor_type="row")
                sync.add_columns("Peer", "Community", "State", "Received", "Sent")
                yield sync
                yield Static("Records rejected", classes="section-title")
                rejected: DataTable[str] = FastTable(id="rejected", cursor_type="row")
                rejected.add_columns("Reason", "Count")
                yield rejected

    async def fetch(self) -> None:
        # The node's answers are JSON objects (declared: mypy cannot type
        # names unpacked beside an attribute).
        peers: dict[str, Any]
        communities: dict[str, Any]
        self.status, peers, communities = await asyncio.gather(
            self.link.call("status"),
            self.link.call("peers.list"),
            self.link.call("communities.list"),
        )
        self.peers = list(peers.get("items") or [])
        self.names = fmt.community_names(communities)

    def topic_community(self, topic: str) -> str:
        """The name of the community a topic carries (topics end with its id)."""
        other = "(directory)" if "directory" in topic else fmt.DASH
        return next((n for cid, n in self.names.items() if topic.endswith(cid)), other)

    def render_all(self) -> None:
        s = self.status
        counters = s.get("counters") or {}
        counter_text = " · ".join(f"{k} {v}" for k, v in sorted(counters.items())) or fmt.DASH
        relays = sum(1 for p in self.peers if p.get("relay"))
        self.query_one("#network-summary", Static).update(
            "\n".join(
                [
                    f"Node {s.get('node', '?')} ({s.get('mode', 'personal')}) · "
                    f"peer id {s.get('peer_id', fmt.DASH)}",
                    f"{fmt.count(s.get('peers', 0), 'peer')} ({fmt.count(relays, 'relay')}) · "
                    f"{s.get('communities', 0)} communities joined · "
                    f"{s.get('records', 0)} records",
                    f"Counters: {counter_text}",
                ]
            )
        )
        peers = self.query_one("#peers", DataTable)
        peers.clear()
        for p in self.peers:
            addrs = p.get("addrs") or []
            role = "relay" if p.get("relay") else "peer"
            peers.add_row(
                fmt.short_key(p.get("peer_id"), 20), role, addrs[0] if addrs else fmt.DASH
            )
        topics = self.query_one("#topics", DataTable)
        topics.clear()
        for t in s.get("topics") or []:
            topics.add_row(self.topic_community(str(t)), str(t))
        sync = self.query_one("#sync", DataTable)
        sync.clear()
        for sess in reversed(s.get("sync") or []):
            sync.add_row(
                fmt.short_key(str(sess.get("peer_id", "")), 16),
                fmt.community_name(self.names, sess.get("community")),
                str(sess.get("state", "")),
                str(sess.get("received", "")),
                str(sess.get("sent", "")),
            )
        rejected = self.query_one("#rejected", DataTable)
        rejected.clear()
        for reason, count in sorted((s.get("rejected") or {}).items()):
            rejected.add_row(str(reason), str(count))

    def wants(self, message: Message) -> bool:
        return isinstance(message, PeerChanged | SyncProgress)
