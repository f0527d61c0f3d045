"""Finding peers and staying connected (``specs/network.md`` §8, §9).

A node learns addresses four ways: the configured bootstrap list, the peers it
remembers from earlier runs (``files/peerfile.py``), what relays tell it by peer
exchange (``protocol/pex.py``, asked of each peer on connect and every
``sync_interval_s``), and, if enabled, mDNS (``net.py``). This service dials them
with exponential backoff per address (:class:`Backoff`, pure), remembers the peers it
is connected to, answers peer exchange with what it is told to share (a relay shares
its peers; a personal node keeps them private), and keeps a circuit-relay
reservation on each configured relay, for nodes behind NAT.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import trio

from cercle.node.files.config import Config
from cercle.node.files.peerfile import kept, read_peers, write_peers
from cercle.node.net import ByteStream, Network
from cercle.node.writer import Counter
from cercle.protocol import pex
from cercle.protocol.errors import RemoteProtocolError

if TYPE_CHECKING:
    from trio_typing import TaskStatus

log = logging.getLogger(__name__)

FIRST_DELAY_S = 1.0  # after a failed dial; doubles at each failure
MAX_DELAY_S = 300.0
DIAL_TIMEOUT_S = 10.0
LONELY_ROUND_S = 1.0  # between dialling rounds while the node has no peer
ROUND_S = 10.0  # between rounds once it has one
PEX_TIMEOUT_S = 10.0
MAX_LEARNED = 200  # addresses learned by peer exchange, kept in memory
RESERVE_TIMEOUT_S = 20.0
RESERVATION_RENEW_S = 600.0  # well before the relay's reservation (1 h) expires


class Backoff:
    """When each address may be dialled again: 1 s after a failure, doubling to 300 s."""

    def __init__(self, first: float = FIRST_DELAY_S, cap: float = MAX_DELAY_S) -> None:
        self.first, self.cap = first, cap
        self._next: dict[str, tuple[float, float]] = {}  # addr -> (next try, next delay)

    def due(self, addr: str, now: float) -> bool:
        entry = self._next.get(addr)
        return entry is None or now >= entry[0]

    def failed(self, addr: str, now: float) -> None:
        _, delay = self._next.get(addr, (0.0, self.first))
        self._next[addr] = (now + delay, min(delay * 2, self.cap))

    def succeeded(self, addr: str) -> None:
        self._next.pop(addr, None)


def peer_of(addr: str) -> str | None:
    """The peer id an address ends with (``…/p2p/ID``), None if it names none."""
    return addr.rsplit("/p2p/", 1)[-1] if "/p2p/" in addr else None


def with_peer(addr: str, peer_id: str) -> str:
    """``addr`` ending in ``/p2p/peer_id`` (unchanged if it names a peer already)."""
    return addr if "/p2p/" in addr else f"{addr}/p2p/{peer_id}"


PeerList = Callable[[str], list[str]]  # what we tell a peer that asks (its id given)


def share_nothing(asking: str) -> list[str]:
    """Personal nodes keep their peers private."""
    return []


class Discovery:
    """Run with ``await nursery.start(discovery.run)``."""

    def __init__(
        self,
        net: Network,
        config: Config,
        peer_file: Path,
        *,
        counters: Counter,
        share: PeerList = share_nothing,
        learn: bool = True,
    ) -> None:
        self.net = net
        self.config = config
        self.peer_file = peer_file
        self.counters = counters
        self.share = share
        self.learn = learn  # ask peers for theirs (personal nodes)
        self.learned: set[str] = set()
        self.circuit_addrs: dict[str, str] = {}  # relay address -> our circuit address
        self.backoff = Backoff()
        self._remembered: list[str] | None = None  # what peers.json holds, once written
        self._ask_send, self._ask_recv = trio.open_memory_channel[str](1000)
        net.set_stream_handler(pex.PROTOCOL_ID, self.serve_pex)

    async def run(self, *, task_status: TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(self._dial_loop)
            for relay_addr in self.config.relays:
                nursery.start_soon(self._reserve_loop, relay_addr)
            if self.learn:
                nursery.start_soon(self._ask_loop)
                nursery.start_soon(self._periodic_ask)
            task_status.started()

    def connected(self, peer_id: str) -> None:
        """A peer connected: ask it for peers (if we learn from peers)."""
        if self.learn:
            with contextlib.suppress(trio.WouldBlock):
                self._ask_send.send_nowait(peer_id)

    # -- addresses ----------------------------------------------------------

    def known_peers(self) -> list[str]:
        """Remembered addresses, then learned ones."""
        return list(dict.fromkeys([*read_peers(self.peer_file), *self.learned]))

    async def remember_peers(self) -> None:
        """Add the addresses of the peers we are connected to to the remembered ones.

        The file is rewritten only when that changes the set, and in a worker thread:
        writing it whole means an fsync, which must not stall the node's event loop.
        """
        addrs = set(self.known_peers())
        for peer in self.net.peers():
            addrs.update(with_peer(a, peer.peer_id) for a in peer.addrs)
        keep = kept(addrs)
        if keep == self._remembered:
            return
        await trio.to_thread.run_sync(write_peers, self.peer_file, keep)
        self._remembered = keep

    # -- dialling -----------------------------------------------------------

    async def _dial_loop(self) -> None:
        """Keeps dialling bootstrap and remembered peers, with backoff per address."""
        while True:
            await self.dial_round()
            if self.net.peers():
                try:
                    await self.remember_peers()
                except OSError as exc:
                    log.warning("cannot save peers: %s", exc)
            await trio.sleep(ROUND_S if self.net.peers() else LONELY_ROUND_S)

    async def dial_round(self) -> None:
        """Dial every address that is due and names a peer we are not connected to."""
        targets = list(dict.fromkeys([*self.config.bootstrap, *self.known_peers()]))
        connected = {p.peer_id for p in self.net.peers()}
        for addr in targets:
            pid = peer_of(addr)
            if pid is None or pid in connected or pid == self.net.peer_id:
                continue
            now = trio.current_time()
            if not self.backoff.due(addr, now):
                continue
            try:
                with trio.fail_after(DIAL_TIMEOUT_S):
                    await self.net.connect(addr)
            except Exception as exc:
                self.counters["dial.failed"] += 1
                log.debug("dialling %s failed: %s", addr, exc)
                self.backoff.failed(addr, now)
            else:
                self.counters["dial.ok"] += 1
                self.backoff.succeeded(addr)

    # -- peer exchange ------------------------------------------------------

    async def serve_pex(self, stream: ByteStream, peer_id: str) -> None:
        """Answer a peer that asks whom we know."""
        await stream.send_all(pex.encode_peers(self.share(peer_id)))

    async def ask_peers(self, peer_id: str) -> list[str]:
        """Learn addresses from ``peer_id`` (relays answer); bad answers are counted."""
        got: list[str] = []
        with trio.move_on_after(PEX_TIMEOUT_S):
            try:
                stream = await self.net.open_stream(peer_id, pex.PROTOCOL_ID)
            except Exception:
                return got
            try:
                reader = pex.PeerListReader()
                while chunk := await stream.receive_some(pex.MAX_BYTES):
                    reader.receive_data(chunk)
                got = reader.result()
            except (RemoteProtocolError, trio.BrokenResourceError) as exc:
                self.counters["pex.bad_answers"] += 1
                log.info("bad peer list from %s: %s", peer_id, exc)
            finally:
                with trio.CancelScope(shield=True), contextlib.suppress(Exception):
                    await stream.aclose()
        for addr in got:
            if len(self.learned) < MAX_LEARNED and not addr.endswith(self.net.peer_id):
                self.learned.add(addr)
        self.counters["pex.learned"] += len(got)
        return got

    async def _ask_loop(self) -> None:
        async with trio.open_nursery() as nursery:
            async for peer_id in self._ask_recv:
                nursery.start_soon(self.ask_peers, peer_id)

    async def _periodic_ask(self) -> None:
        while True:
            await trio.sleep(self.config.sync_interval_s)
            for peer in self.net.peers():
                self.connected(peer.peer_id)

    # -- relays -------------------------------------------------------------

    async def _reserve_loop(self, relay_addr: str) -> None:
        """Keeps a circuit-relay reservation on ``relay_addr`` (for nodes behind NAT)."""
        delay = FIRST_DELAY_S
        while True:
            try:
                with trio.fail_after(RESERVE_TIMEOUT_S):
                    addr = await self.net.reserve_on(relay_addr)
                self.circuit_addrs[relay_addr] = addr
                self.counters["relay.reserved"] += 1
                delay = FIRST_DELAY_S
                await trio.sleep(RESERVATION_RENEW_S)
            except Exception as exc:
                self.circuit_addrs.pop(relay_addr, None)
                self.counters["relay.reserve_failed"] += 1
                log.info("reservation on %s failed: %s", relay_addr, exc)
                await trio.sleep(delay)
                delay = min(delay * 2, MAX_DELAY_S)
