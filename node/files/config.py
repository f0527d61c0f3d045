"""Node configuration: a small TOML file in the data directory, plus flags.

Why TOML and a dataclass: people edit this file by hand on servers, so it must
read well and every mistake must be reported with the key that is wrong,
never as a traceback.  Flags override the file; the file overrides defaults.

Example ``config.toml``::

    listen = ["/ip4/0.0.0.0/tcp/7490"]
    bootstrap = ["/ip4/203.0.113.5/tcp/7490/p2p/12D3Koo..."]
    relays = ["/ip4/203.0.113.5/tcp/7490/p2p/12D3Koo..."]  # reserve a circuit slot
    mdns = true
    sync_interval_s = 60
    network_version = 2       # 1: speak only what nodes of network version 1 speak

    [relay]
    communities = []          # empty: host every community heard of
    metrics = "127.0.0.1:9464"
    max_records_per_s = 50    # per peer, gossip
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from cercle.protocol.localapi import HEX32


class ConfigError(Exception):
    """The configuration file or a flag is wrong; the message names what and where."""


@dataclass(frozen=True)
class Config:
    listen: tuple[str, ...] = ("/ip4/0.0.0.0/tcp/0",)
    bootstrap: tuple[str, ...] = ()
    relays: tuple[str, ...] = ()  # circuit relays to reserve a slot on (behind NAT)
    mdns: bool = False
    learn_peers: bool = True  # ask relays for the addresses of their peers, and dial them
    sync_interval_s: float = 60.0
    relay_communities: tuple[str, ...] = ()
    metrics: str | None = None  # "host:port" for the Prometheus endpoint (relay)
    max_records_per_s: float = 50.0  # per peer, gossip (relay)
    api: bool = True
    # 2: batches on version-2 topics as well as single records on version-1 topics
    # (specs/network.md §2); 1: only the latter, as nodes of network version 1 did.
    network_version: int = 2

    def with_overrides(self, **kw: Any) -> Config:
        return replace(self, **{k: v for k, v in kw.items() if v is not None})


_TOP = {
    "listen": (list, "listen"),
    "bootstrap": (list, "bootstrap"),
    "relays": (list, "relays"),
    "mdns": (bool, "mdns"),
    "learn_peers": (bool, "learn_peers"),
    "sync_interval_s": ((int, float), "sync_interval_s"),
    "network_version": (int, "network_version"),
}
_RELAY = {
    "communities": (list, "relay_communities"),
    "metrics": (str, "metrics"),
    "max_records_per_s": ((int, float), "max_records_per_s"),
}


def _take(table: dict[str, Any], spec: dict[str, Any], where: str, out: dict[str, Any]) -> None:
    for key, value in table.items():
        if key not in spec:
            raise ConfigError(f"{where}: unknown setting {key!r}")
        typ, name = spec[key]
        if not isinstance(value, typ) or (isinstance(value, bool) and typ is not bool):
            raise ConfigError(f"{where}: {key!r} has the wrong type ({type(value).__name__})")
        if isinstance(value, list):
            if not all(isinstance(v, str) for v in value):
                raise ConfigError(f"{where}: {key!r} must be a list of strings")
            value = tuple(value)
        out[name] = value


def load_config(path: Path) -> Config:
    """Read ``path`` (missing file: defaults).  Raises :class:`ConfigError`."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return Config()
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read {path}: {exc}") from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: {exc}") from None
    values: dict[str, Any] = {}
    relay = data.pop("relay", {})
    if not isinstance(relay, dict):
        raise ConfigError(f"{path}: [relay] must be a table")
    _take(data, _TOP, str(path), values)
    _take(relay, _RELAY, f"{path} [relay]", values)
    return check_config(Config(**values), str(path))


def check_config(cfg: Config, where: str) -> Config:
    """``cfg`` if its values make sense, else ConfigError naming the setting and ``where``."""
    if cfg.sync_interval_s <= 0:
        raise ConfigError(f"{where}: sync_interval_s must be positive")
    if cfg.network_version not in (1, 2):
        raise ConfigError(f"{where}: network_version must be 1 or 2")
    if cfg.max_records_per_s <= 0:
        raise ConfigError(f"{where}: [relay] max_records_per_s must be positive")
    for community in cfg.relay_communities:
        if HEX32.problem(community) is not None:
            raise ConfigError(
                f"{where}: [relay] communities: {community[:70]!r} is not a community id "
                "(64 hexadecimal characters, 0-9 and a-f)"
            )
    if cfg.metrics is not None:
        _, sep, port = cfg.metrics.rpartition(":")
        if not sep or not port.isdigit() or not 0 < int(port) < 65536:
            raise ConfigError(
                f"{where}: [relay] metrics: {cfg.metrics[:70]!r} is not HOST:PORT "
                "(e.g. 127.0.0.1:9464)"
            )
    return cfg
