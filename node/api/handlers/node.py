"""The node itself: ``status``, our identity and profile, peers."""

from __future__ import annotations

from typing import Any

from cercle.node.api import views
from cercle.node.api.handlers.context import Context, Params
from cercle.protocol import localapi as A
from cercle.protocol import records as R


def status(c: Context, p: Params) -> Any:
    return c.port.status()


def identity(c: Context, p: Params) -> Any:
    me = c.me()
    return views.identity_view(me.public_key, c.store.head(R.profile_key(me.public_key)))


async def set_profile(c: Context, p: Params) -> Any:
    return await c.publish(R.ProfileBody(R.nfc(p["display_name"]), R.nfc(p["about"])))


def peers(c: Context, p: Params) -> Any:
    return views.items([views.peer_view(x) for x in c.port.peers()])


async def connect(c: Context, p: Params) -> Any:
    if "/p2p/" not in p["addr"]:
        raise A.ApiError(
            A.BAD_PARAMS, "addr: a multiaddr ending in /p2p/PEER_ID is needed", field="addr"
        )
    try:
        peer_id = await c.port.connect(p["addr"])
    except Exception as exc:
        raise A.ApiError(A.UNAVAILABLE, f"cannot connect to {p['addr']}: {exc}") from None
    return views.connected_view(peer_id)


HANDLERS = {
    "status": status,
    "identity.get": identity,
    "profile.set": set_profile,
    "peers.list": peers,
    "peers.connect": connect,
}
