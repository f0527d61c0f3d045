"""Petitions: listing, creating, signing, signatures, and self-verifying bundles."""

from __future__ import annotations

import os
from typing import Any

import trio

from cercle.node.api import paging, views
from cercle.node.api.handlers.context import Context, Params, hex_id
from cercle.node.files.bundlefile import write_bundle_file
from cercle.protocol import bundle
from cercle.protocol import localapi as A
from cercle.protocol import records as R


def list_(c: Context, p: Params) -> Any:
    limit: int = p["limit"]
    before = paging.parse_time_cursor(p.get("cursor"))
    recs = c.store.by_kind(hex_id(p["community"]), R.Kind.PETITION, before=before, limit=limit)
    return views.page([c.petition(r) for r in recs], paging.next_time_cursor(recs, limit))


def get(c: Context, p: Params) -> Any:
    return c.petition(c.record(p["id"], R.Kind.PETITION))


async def create(c: Context, p: Params) -> Any:
    c.charter(p["community"])
    body = R.PetitionBody(
        R.nfc(p["title"]), R.nfc(p["text"]), R.nfc(p["target"]), p["goal"], p["deadline_ms"]
    )
    why = A.deadline_problem(body.deadline_ms, c.port.now_ms())
    if why is not None:
        raise A.ApiError(A.BAD_PARAMS, f"deadline_ms: {why}", field="deadline_ms")
    return await c.publish(body, hex_id(p["community"]))


async def sign(c: Context, p: Params) -> Any:
    pet = c.record(p["id"], R.Kind.PETITION)
    assert isinstance(pet.body, R.PetitionBody)
    if c.port.now_ms() > pet.body.deadline_ms:
        raise A.ApiError(A.REJECTED, "this petition's deadline has passed", reason="late_signature")
    return await c.publish(R.SignatureBody(pet.id), pet.community)


def signatures(c: Context, p: Params) -> Any:
    pet = c.record(p["id"], R.Kind.PETITION)
    view = c.port.trust_view(pet.community)

    def walk(cursor: str | None, n: int) -> tuple[list[R.Record], str | None]:
        recs = c.store.signatures(pet.id, after=paging.parse_time_cursor(cursor), limit=n)
        return recs, paging.next_time_cursor(recs, n)

    recs, cursor = c.trusted_first(
        view, lambda a: R.signature_key(a, pet.scope, pet.id), walk, p.get("cursor"), p["limit"]
    )
    shown = c.visible(recs, view, p["unvetted"])
    return views.page([views.signature_view(r, view, c.names(r.author)) for r in shown], cursor)


async def export(c: Context, p: Params) -> Any:
    pet = c.record(p["id"], R.Kind.PETITION)
    store = c.store
    path = p.get("path")
    if path is not None and not os.path.isabs(path):
        raise A.ApiError(
            A.BAD_PARAMS, "path: give an absolute path (the node writes the file)", field="path"
        )

    def build() -> tuple[bytes, int, bytes]:
        sigs = store.signatures(pet.id, limit=None)
        charter = store.get_any(pet.community) if pet.community else None
        data = bundle.build_bundle(pet, sigs, community=charter)
        return data, len(sigs), bundle.merkle_root([s.id for s in sigs])

    data, count, root = await trio.to_thread.run_sync(build)
    if path is None:
        if 2 * len(data) > A.MAX_FRAME // 2:
            raise A.ApiError(
                A.BAD_PARAMS, "the bundle is large: give a path to write it to", field="path"
            )
        return views.export_view(count, root, data, inline=True)
    try:
        await trio.to_thread.run_sync(
            lambda: write_bundle_file(path, data, overwrite=p["overwrite"])
        )
    except FileExistsError:
        raise A.ApiError(
            A.BAD_PARAMS, f"path: {path} exists (pass overwrite)", field="path"
        ) from None
    except OSError as exc:
        raise A.ApiError(A.UNAVAILABLE, f"cannot write {path}: {exc.strerror}") from None
    return views.export_view(count, root, data, path=path, inline=False)


HANDLERS = {
    "petitions.list": list_,
    "petitions.get": get,
    "petitions.create": create,
    "petitions.sign": sign,
    "petitions.signatures": signatures,
    "petitions.export": export,
}
