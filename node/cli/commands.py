"""CLI commands that talk to a running node through the local API.

Why over the API and not by opening the store: the node owns the LMDB writer,
the author key (unlocked once) and the network; the CLI is just another client,
like the TUI, and sees exactly what the node does. Each command turns its
arguments into one or two API calls (checked locally first, so mistakes are
reported before the node is involved), then prints the result as a small table,
or as JSON with ``--json``. Errors are one line, "cercle: error: ...", exit 1.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
from collections.abc import Callable
from typing import Any

from cercle.node.api.client import ApiClient
from cercle.node.cli.output import (
    err,
    help_handler,
    items,
    out,
    print_fields,
    print_json,
    print_table,
    show,
)
from cercle.node.cli.parse import UsageError, check_gtin, hex_id, parse_deadline, parse_scores
from cercle.node.files.datadir import DataDir
from cercle.protocol.errors import CercleError
from cercle.protocol.localapi import ApiError
from cercle.protocol.records import SCORE_MAX, SCORE_MIN

Subparsers = Any
Handler = Callable[[argparse.Namespace, DataDir], int]
Command = Callable[[argparse.Namespace, ApiClient], Any]


def _command(run: Command, present: Callable[[Any, argparse.Namespace], None]) -> Handler:
    """A handler: call the node with ``run``, print with ``present`` or as JSON."""

    def handler(args: argparse.Namespace, datadir: DataDir) -> int:
        try:
            with ApiClient(datadir.socket) as client:
                result = run(args, client)
        except ApiError as e:
            err(f"{e.message} [{e.code}]" if e.code != "rejected" else e.message)
            return 1
        except CercleError as e:  # NodeNotRunning, UsageError, a garbled answer
            err(str(e))
            return 1
        if args.json:
            print_json(result)
        else:
            present(result, args)
        return 0

    return handler


def _created(what: str) -> Callable[[Any, argparse.Namespace], None]:
    def print_id(result: Any, args: argparse.Namespace) -> None:
        rid = result.get("id") if isinstance(result, dict) else result
        out(f"{what}: {show(rid)}")

    return print_id


def _fields(*keys: str) -> Callable[[Any, argparse.Namespace], None]:
    return lambda result, args: print_fields(result, keys)


# -- status, peers --------------------------------------------------------------


def _status(args: argparse.Namespace, c: ApiClient) -> Any:
    return c.call("status")


def _peers(args: argparse.Namespace, c: ApiClient) -> Any:
    return c.call("peers.list")


def _show_peers(result: Any, args: argparse.Namespace) -> None:
    print_table(items(result), ("peer_id", "addrs", "connected_since"), "No peers connected.")


# -- communities ----------------------------------------------------------------


def _community_create(args: argparse.Namespace, c: ApiClient) -> Any:
    return c.call(
        "communities.create",
        name=args.name,
        description=args.description,
        values=args.value,
        criteria=args.criterion,
        pow_bits=args.pow_bits,
    )


def _community_join(args: argparse.Namespace, c: ApiClient) -> Any:
    return c.call("communities.join", id=args.id)


def _community_list(args: argparse.Namespace, c: ApiClient) -> Any:
    return c.call("communities.list")


def _show_communities(result: Any, args: argparse.Namespace) -> None:
    columns = ("id", "name", "joined", "criteria")
    print_table(items(result), columns, "No communities known yet.")


# -- products and ratings -------------------------------------------------------


def _rate(args: argparse.Namespace, c: ApiClient) -> Any:
    check_gtin(args.gtin)
    community = c.call("communities.get", id=args.community)
    criteria = community.get("criteria") if isinstance(community, dict) else None
    if not isinstance(criteria, list) or not criteria:
        raise UsageError("the node returned a community without criteria")
    scores = parse_scores(args.score, [str(x) for x in criteria])
    return c.call(
        "ratings.put", community=args.community, gtin=args.gtin, scores=scores, text=args.text
    )


def _product_add(args: argparse.Namespace, c: ApiClient) -> Any:
    check_gtin(args.gtin)
    return c.call(
        "products.put",
        community=args.community,
        gtin=args.gtin,
        name=args.name,
        brand=args.brand,
        labels=args.label,
    )


# -- petitions ------------------------------------------------------------------


def _petition_create(args: argparse.Namespace, c: ApiClient) -> Any:
    now_ms = int(dt.datetime.now(dt.UTC).timestamp() * 1000)
    params = {
        "community": args.community,
        "title": args.title,
        "text": args.text,
        "target": args.target,
        "goal": args.goal,
        "deadline_ms": parse_deadline(args.deadline, now_ms),
    }
    return c.call("petitions.create", **params)


def _petition_sign(args: argparse.Namespace, c: ApiClient) -> Any:
    return c.call("petitions.sign", id=args.id)


def _petition_show(args: argparse.Namespace, c: ApiClient) -> Any:
    return c.call("petitions.get", id=args.id)


def _petition_export(args: argparse.Namespace, c: ApiClient) -> Any:
    path = os.path.abspath(args.output)
    return c.call("petitions.export", id=args.id, path=path, overwrite=args.force)


def _show_export(result: Any, args: argparse.Namespace) -> None:
    out(f"Wrote {result.get('path')}: {result.get('signatures')} signatures, "
         f"Merkle root {result.get('root')}")  # fmt: skip
    out(f"Anyone can check it offline with: cercle verify {args.output}")


def _show_petition(result: Any, args: argparse.Namespace) -> None:
    if isinstance(result, dict) and isinstance(result.get("deadline_ms"), int):
        result = dict(result)
        when = dt.datetime.fromtimestamp(result["deadline_ms"] / 1000, dt.UTC)
        result["deadline"] = when.strftime("%Y-%m-%d %H:%M UTC")
    keys = ("id", "title", "target", "goal", "signatures", "deadline", "community", "author")
    print_fields(result, keys)


# -- records and trust ----------------------------------------------------------


def _retract(args: argparse.Namespace, c: ApiClient) -> Any:
    return c.call("records.retract", id=args.id)


def _vouch(args: argparse.Namespace, c: ApiClient) -> Any:
    return c.call("vouch", subject=args.key, trust=not args.distrust, community=args.community)


def _moderate(action: str) -> Command:
    def run(args: argparse.Namespace, c: ApiClient) -> Any:
        return c.call("moderation.set", target=args.target, action=action, on=not args.undo)

    return run


def _moderation_list(args: argparse.Namespace, c: ApiClient) -> Any:
    return c.call("moderation.list")


def _min_trust(args: argparse.Namespace, c: ApiClient) -> Any:
    distance = None if args.off else args.max_distance
    if distance is None and not args.off:
        raise UsageError("give a distance 0..3 (0: only me, 1: people I vouch for…) or --off")
    return c.call("communities.set_min_trust", id=args.id, max_distance=distance)


# -- products with their trusted scores ---------------------------------------------


def _products(args: argparse.Namespace, c: ApiClient) -> Any:
    return c.call(
        "products.ranked", community=args.community, trusted=args.trusted, limit=args.limit
    )


def _score_line(product: dict[str, Any]) -> str:
    scores = product.get("scores") or {}
    everyone = scores.get("all") or {}
    trusted = scores.get("trusted") or {}

    def fmt(agg: dict[str, Any]) -> str:
        overall = agg.get("overall")
        return f"{overall:.1f} ({agg.get('count', 0)})" if overall is not None else "–"

    return f"all {fmt(everyone)} · trusted {fmt(trusted)}"


def _show_products(result: Any, args: argparse.Namespace) -> None:
    rows = [
        {"gtin": p.get("gtin"), "name": p.get("name"), "scores": _score_line(p)}
        for p in items(result)
    ]
    print_table(rows, ("gtin", "name", "scores"), "No rated products yet.")


def _product_show(args: argparse.Namespace, c: ApiClient) -> Any:
    check_gtin(args.gtin)
    return c.call("products.get", community=args.community, gtin=args.gtin)


def _show_product(result: Any, args: argparse.Namespace) -> None:
    print_fields(result, ("gtin", "name", "brand", "labels"))
    out(f"scores       {_score_line(result)}")
    out(f"why          {(result.get('scores') or {}).get('reason', '')}")


# -- registration ---------------------------------------------------------------


def _add(
    sub: Subparsers,
    name: str,
    help: str,
    run: Command,
    show: Callable[[Any, argparse.Namespace], None],
) -> argparse.ArgumentParser:
    p: argparse.ArgumentParser = sub.add_parser(name, help=help, description=help)
    p.add_argument("--json", action="store_true", help="print the API result as JSON")
    p.set_defaults(func=_command(run, show))
    return p


def _group(subparsers: Subparsers, name: str, help: str) -> Subparsers:
    p = subparsers.add_parser(name, help=help)
    p.set_defaults(func=help_handler(p))
    return p.add_subparsers(title="commands", metavar="COMMAND")


def register(subparsers: Subparsers) -> None:
    _add(subparsers, "status", "show the running node's status", _status, _fields("node"))
    _add(subparsers, "peers", "list connected peers", _peers, _show_peers)

    sub = _group(subparsers, "community", "create, join and list communities")
    p = _add(
        sub,
        "create",
        "publish a new community charter",
        _community_create,
        _created("Created community"),
    )
    p.add_argument("name", metavar="NAME")
    p.add_argument("--description", default="", help="what the community is about")
    p.add_argument(
        "--value", action="append", default=[], metavar="V", help="a value it stands for (repeat)"
    )
    p.add_argument(
        "--criterion",
        action="append",
        default=[],
        metavar="C",
        required=True,
        help="a rating criterion (repeat; order matters)",
    )
    p.add_argument(
        "--pow-bits",
        type=int,
        default=None,
        metavar="N",
        help="proof-of-work bits required of members' records",
    )
    p = _add(sub, "join", "follow a community", _community_join, _created("Joined community"))
    p.add_argument("id", metavar="ID", type=hex_id)
    _add(sub, "list", "list known communities", _community_list, _show_communities)
    p = _add(sub, "min-trust", "show only authors within a trust distance by default",
             _min_trust, _fields("id", "max_distance"))  # fmt: skip
    p.add_argument("id", metavar="ID", type=hex_id)
    p.add_argument("max_distance", type=int, nargs="?", default=None, metavar="N")
    p.add_argument("--off", action="store_true", help="show everyone again")

    p = _add(subparsers, "rate", "rate a product in a community", _rate, _created("Rated"))
    p.add_argument("gtin", metavar="GTIN")
    p.add_argument("--community", required=True, metavar="ID", type=hex_id)
    p.add_argument(
        "--score",
        action="append",
        default=[],
        required=True,
        metavar="CRITERION=N",
        help=f"one per criterion, {SCORE_MIN}..{SCORE_MAX}",
    )
    p.add_argument("--text", default=None, help="an optional review")

    sub = _group(subparsers, "product", "describe products")
    p = _add(sub, "add", "publish a product record", _product_add, _created("Added product"))
    p.add_argument("gtin", metavar="GTIN")
    p.add_argument("--community", required=True, metavar="ID", type=hex_id)
    p.add_argument("--name", required=True)
    p.add_argument("--brand", default=None)
    p.add_argument("--label", action="append", default=[], help="a label (repeat)")

    sub = _group(subparsers, "petition", "create, sign and show petitions")
    p = _add(sub, "create", "publish a petition", _petition_create, _created("Created petition"))
    p.add_argument("--community", required=True, metavar="ID", type=hex_id)
    p.add_argument("--title", required=True)
    p.add_argument("--text", required=True)
    p.add_argument("--target", default=None, help="whom the petition addresses")
    p.add_argument("--goal", type=int, required=True, metavar="N", help="signatures wanted")
    p.add_argument("--deadline", required=True, metavar="YYYY-MM-DD", help="last day (UTC)")
    p = _add(sub, "sign", "sign a petition", _petition_sign, _created("Signed; signature"))
    p.add_argument("id", metavar="ID", type=hex_id)
    p = _add(sub, "show", "show a petition and its counts", _petition_show, _show_petition)
    p.add_argument("id", metavar="ID", type=hex_id)
    p = _add(sub, "export", "write a self-verifying bundle of a petition", _petition_export,
             _show_export)  # fmt: skip
    p.add_argument("id", metavar="ID", type=hex_id)
    p.add_argument("-o", "--output", required=True, metavar="FILE")
    p.add_argument("--force", action="store_true", help="overwrite FILE")

    p = _add(subparsers, "retract", "retract one of your records", _retract, _created("Retracted"))
    p.add_argument("id", metavar="ID", type=hex_id)

    p = _add(
        subparsers, "vouch", "vouch for (or against) another author", _vouch, _created("Vouched")
    )
    p.add_argument("key", metavar="KEY", type=hex_id, help="the author's public key (hex)")
    p.add_argument("--distrust", action="store_true", help="distrust instead of trust")
    p.add_argument(
        "--community", default=None, metavar="ID", type=hex_id, help="only within this community"
    )

    for action, what in (("mute", "hide an author's records on this node"),
                         ("block", "hide an author and cut them out of your trust network"),
                         ("hide", "hide one record on this node")):  # fmt: skip
        p = _add(subparsers, action, what + " (local, never published)", _moderate(action),
                 _fields("muted", "blocked", "hidden"))  # fmt: skip
        p.add_argument("target", metavar="ID" if action == "hide" else "KEY", type=hex_id)
        p.add_argument("--undo", action="store_true", help="undo it")
    _add(subparsers, "moderation", "show local moderation settings", _moderation_list,
         _fields("muted", "blocked", "hidden", "min_trust"))  # fmt: skip

    p = _add(subparsers, "products", "a community's products, best rated first", _products,
             _show_products)  # fmt: skip
    p.add_argument("--community", required=True, metavar="ID", type=hex_id)
    p.add_argument("--trusted", action="store_true", help="rank by people you trust")
    p.add_argument("--limit", type=int, default=50)
    sub_show = _group(subparsers, "show", "show one product or petition")
    p = _add(sub_show, "product", "a product with all and trusted scores", _product_show,
             _show_product)  # fmt: skip
    p.add_argument("gtin", metavar="GTIN")
    p.add_argument("--community", required=True, metavar="ID", type=hex_id)
    p = _add(sub_show, "petition", "a petition with all and trusted signatures", _petition_show,
             _show_petition)  # fmt: skip
    p.add_argument("id", metavar="ID", type=hex_id)
