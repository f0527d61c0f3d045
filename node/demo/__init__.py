"""``cercle demo``: a small Cercle network on this machine, seeded and alive.

What it runs, all on loopback (127.0.0.1) and each in its own temporary data
directory: one relay (``cercle relay``) and N personal nodes (``cercle node``,
default 4) as separate processes, every personal node bootstrapped to the relay.

What it seeds, deterministically from ``--seed`` (``random.Random``; only the
timestamps follow the clock, so that nothing is dated in the future):

* the crowd: ~200 authors with deterministic keys. Their records (six community
  charters, a few hundred products, thousands of ratings, petitions and their
  signatures, profiles and a vouch graph) are signed here and written straight
  into the relay's store *before* the relay starts; the relay then serves them
  to everyone through sync. A few crowd authors are shills that rate one brand
  5/5 everywhere; the crowd distrusts them, so "trusted" aggregates differ from
  the raw ones.
* the personal nodes' authors (Alice, Bilal, Chana, Dov, …; unencrypted demo
  keys from deterministic seeds) act only through their node's local API: they
  set a profile, join every community, vouch for some crowd authors (and
  distrust a shill), add products, rate, start and sign petitions.

Then, once every node holds the same records, a trickle of new activity keeps
going (every few seconds one personal node rates or signs something) and the
TUI opens on the first personal node. Ctrl+C, SIGTERM or leaving the TUI stops
it all: every child gets SIGTERM (SIGKILL after a grace period) and every
temporary directory is removed.

``--headless`` prints a status line every few seconds instead of opening the
TUI; ``--duration`` stops after that many seconds; ``--until-synced`` stops as
soon as the network is seeded and every node holds every record; ``--json``
prints machine-readable lines (``{"event": ...}``) for scripts and tests.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import random
import shutil
import signal
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from cercle.node.cli.launcher import open_tui
from cercle.node.cli.supervisor import (
    CALL_ERRORS,
    Child,
    ChildError,
    check_running,
    node_argv,
    probe,
    spawn,
    stop_children,
    wait_ready,
)
from cercle.node.files.datadir import DataDir
from cercle.node.files.keystore import create_identity
from cercle.protocol import records as R
from cercle.protocol.identity import private_key_from_seed
from cercle.protocol.localapi import ApiError
from cercle.storage import Status, Store


def _words(text: str, sep: str | None = None) -> tuple[str, ...]:
    return tuple(text.split(sep))


PERSONAL_NAMES = _words(
    "Alice Bilal Chana Dov Elif Farah Gwen Hugo Ines Jonas Kofi Lena Malik Noa Oskar Priya"
)
FIRST = _words(
    "Amira Ben Clara David Emma Fatima Gabriel Hannah Ibrahim Julia Karim Laura Moshe "
    "Nadia Omar Paula Quentin Rachel Samir Tova Ugo Valentina Wei Yusuf Zoé Ana Léa "
    "Jakob Miriam Theo Sofia Luca Aisha Noah Esther Hamza Chloé Yael Mateo Leila"
)
LAST = _words(
    "Martin Haddad Cohen Schmidt Rossi Dubois Yilmaz Levi Nowak Garcia Benali Weber "
    "Moreau Kaplan Fischer Costa Rahman Meyer Lambert Friedman Silva Bakker Novak "
    "Ahmed Laurent Horvat"
)


@dataclass(frozen=True)
class CommunitySpec:
    """A community's charter, and what its products look like."""

    key: str
    name: str
    description: str
    values: tuple[str, ...]
    criteria: tuple[str, ...]
    labels: tuple[str, ...]  # product labels typical of this community
    kinds: tuple[str, ...]  # product kinds that belong here


COMMUNITIES = (
    CommunitySpec(
        "vegan",
        "Vegan",
        "Plant-based food and household products, free of animal ingredients and not "
        "tested on animals. Rate taste, how clean the ingredient list is, price and ethics.",
        ("vegan", "plant-based", "cruelty-free"),
        ("taste", "ingredients", "price", "ethics"),
        ("vegan", "organic", "palm-oil-free", "v-label"),
        _words(
            "oat drink|soy yoghurt|tofu|seitan|vegan cheese|hummus|veggie burger|almond drink|"
            "tempeh|lentil pasta|dark chocolate",
            "|",
        ),
    ),
    CommunitySpec(
        "halal",
        "Halal",
        "Food prepared according to Islamic dietary law, with a certification we can trace.",
        ("halal", "certified", "traceable"),
        ("taste", "certification", "ingredients", "price"),
        ("halal", "certified-halal", "no-alcohol"),
        _words(
            "chicken sausages|beef merguez|lamb kebab|gelatine-free gummies|chicken nuggets|"
            "turkey slices|beef burger|couscous meal",
            "|",
        ),
    ),
    CommunitySpec(
        "kosher",
        "Kosher",
        "Products under a reliable kashrut supervision: meat, dairy and pareve.",
        ("kosher", "supervised"),
        ("taste", "certification", "price"),
        ("kosher", "pareve", "dairy", "kosher-for-passover"),
        _words(
            "matzah|challah|gefilte fish|pareve margarine|hummus|rugelach|chicken soup|halva|"
            "pickled cucumbers",
            "|",
        ),
    ),
    CommunitySpec(
        "gluten-free",
        "Gluten-free",
        "Safe food for people with coeliac disease or gluten intolerance: certified, "
        "no cross-contamination, and still good to eat.",
        ("gluten-free", "coeliac-safe"),
        ("taste", "texture", "safety", "price"),
        ("gluten-free", "crossed-grain", "wheat-free"),
        _words("bread|pasta|pizza base|crackers|muesli|brownie mix|beer|flour blend|cookies", "|"),
    ),
    CommunitySpec(
        "local",
        "Local producers",
        "Food grown and made within 150 km, sold as directly as possible.",
        ("local", "seasonal", "short supply chain"),
        ("taste", "freshness", "distance", "price"),
        ("local", "seasonal", "farm", "organic"),
        _words(
            "apple juice|goat cheese|honey|free-range eggs|rye bread|strawberry jam|cider|"
            "butter|yoghurt",
            "|",
        ),
    ),
    CommunitySpec(
        "fair-trade",
        "Fair trade",
        "Products that pay their growers and workers fairly, with transparent supply chains.",
        ("fair trade", "living wage", "transparency"),
        ("taste", "ethics", "transparency", "price"),
        ("fairtrade", "organic", "rainforest", "direct-trade"),
        _words(
            "coffee beans|ground coffee|green tea|cocoa powder|milk chocolate|bananas|"
            "cane sugar|quinoa|cashews",
            "|",
        ),
    ),
)

BRANDS = _words(
    "Verdana|Altgrün|Green Fields|Maison Rivière|Bergmann|Sol & Terre|Al-Baraka|Noor|"
    "Shalom Foods|Golan Valley|Glutenfrei & Gut|Purely|Hof Lindner|La Ferme du Coin|"
    "Equal Bean|Tierra Justa|Hafer Hills|Nordkorn|Casa Verde|Bio Vita",
    "|",
)
ADJECTIVES = _words(
    "Organic|Classic|Crunchy|Creamy|Smoked|Wholegrain|Mild|Spicy|Original|Light|"
    "Rustic|Golden|Barista|Family pack|Extra",
    "|",
)
GTIN_PREFIXES = _words("400 401 402 403 404 300 301 302 376 377 800 801 840 760 761 871 729 590")
RATING_TEXTS = (
    "",
    "",
    "",
    "",
    "Would buy again.",
    "Too expensive for what it is.",
    "Great taste!",
    "Check the label: the recipe changed.",
    "My kids love it.",
    "Hard to find in shops.",
    "Certification looks solid.",
    "A bit bland.",
    "Best one I have tried so far.",
    "Packaging is excessive.",
    "Good value.",
    "Texture is off.",
)
PETITIONS = (
    (
        "Label every animal-derived additive",
        "Please print the origin of E-numbers such as "
        "E120 and E904 on the pack, so that we do not need to write to you each time.",
        "Food manufacturers",
    ),
    (
        "Show the certifying body on the front",
        "Name the certification body and the certificate number on every certified product.",
        "Retailers",
    ),
    (
        "Separate production lines",
        "Publish whether products share a production line with "
        "products that would make them unsuitable for us.",
        "Food manufacturers",
    ),
    (
        "Fair prices for the producers",
        "Publish the share of the shelf price that goes to "
        "the farmers who grew the main ingredient.",
        "Supermarket chains",
    ),
    (
        "Keep the old recipe",
        "The new recipe adds ingredients many of us avoid. Bring back "
        "the previous one, or sell both.",
        "The brand",
    ),
    (
        "Stock more of these products",
        "Our local shops carry very few of the products this "
        "community rates well. Please list them.",
        "Local supermarkets",
    ),
)


DAY_MS = 86_400_000
HOUR_MS = 3_600_000
CROWD = 200
SHILLS = 8


def _seed(tag: str, seed: int, n: int) -> bytes:
    return hashlib.sha256(f"cercle-demo/{tag}/{seed}/{n}".encode()).digest()


def personal_seed(seed: int, n: int) -> bytes:
    """The key seed of the ``n``-th personal node's author (Alice is 0)."""
    return _seed("node", seed, n)


def crowd_key(seed: int, n: int) -> Ed25519PrivateKey:
    """The ``n``-th crowd author's key."""
    return private_key_from_seed(_seed("crowd", seed, n))


@dataclass
class ProductInfo:
    """A crowd product, with the latent quality that honest ratings scatter around."""

    community: int  # index into COMMUNITIES
    gtin: str
    name: str
    brand: str
    labels: tuple[str, ...]
    quality: tuple[int, ...]  # latent quality per criterion, 1..5


@dataclass
class Sample:
    """The crowd's records (for the relay's store) and the facts the seeding needs."""

    records: list[R.Record] = field(default_factory=list)
    community_ids: list[bytes] = field(default_factory=list)
    products: list[ProductInfo] = field(default_factory=list)
    petitions: list[tuple[int, bytes]] = field(default_factory=list)  # (community, id)
    crowd: list[bytes] = field(default_factory=list)  # public keys
    shills: list[bytes] = field(default_factory=list)
    honest: list[bytes] = field(default_factory=list)


def _crowd_name(rng: random.Random) -> str:
    return f"{rng.choice(FIRST)} {rng.choice(LAST)}"


def build_sample(seed: int, now_ms: int, *, crowd: int = CROWD) -> Sample:
    """The crowd's signed records: same content for the same seed, dated before ``now_ms``."""
    rng = random.Random(seed)
    s = Sample()
    keys = [crowd_key(seed, i) for i in range(crowd)]
    s.crowd = [k.public_key().public_bytes_raw() for k in keys]
    shill_idx = set(rng.sample(range(crowd), min(SHILLS, crowd // 4)))
    s.shills = [s.crowd[i] for i in sorted(shill_idx)]
    honest_idx = [i for i in range(crowd) if i not in shill_idx]
    s.honest = [s.crowd[i] for i in honest_idx]
    recs = s.records

    def ago(lo_days: float, hi_days: float) -> int:
        return now_ms - int(rng.uniform(lo_days, hi_days) * DAY_MS)

    # Profiles (directory scope).
    for i, k in enumerate(keys):
        name = _crowd_name(rng)
        about = "" if rng.random() < 0.7 else "Reading labels so you do not have to."
        recs.append(R.build(k, R.ProfileBody(name, about), created_ms=ago(100, 120) + i))

    # Charters, each founded by an honest crowd author.
    for spec in COMMUNITIES:
        founder = keys[rng.choice(honest_idx)]
        body = R.CommunityBody(spec.name, spec.description, spec.values, spec.criteria, 0)
        rec = R.build(founder, body, created_ms=ago(90, 95))
        recs.append(rec)
        s.community_ids.append(rec.id)

    # Products: a few hundred, each in one community, with valid GTIN-13s.
    seen: set[str] = set()
    for ci, spec in enumerate(COMMUNITIES):
        for _ in range(50):
            while True:
                code = R.with_check_digit(rng.choice(GTIN_PREFIXES) + f"{rng.randrange(10**9):09d}")
                if code not in seen:
                    seen.add(code)
                    break
            brand = rng.choice(BRANDS)
            name = f"{rng.choice(ADJECTIVES)} {rng.choice(spec.kinds)}"
            labels = tuple(
                sorted(rng.sample(spec.labels, rng.randint(1, min(3, len(spec.labels)))))
            )
            quality = tuple(rng.randint(1, 5) for _ in spec.criteria)
            info = ProductInfo(ci, code, name, brand, labels, quality)
            s.products.append(info)
            author = keys[rng.choice(honest_idx)]
            recs.append(
                R.build(
                    author,
                    R.ProductBody(code, name, brand, labels),
                    created_ms=ago(60, 85),
                    community=s.community_ids[ci],
                )
            )

    # Ratings: honest authors score near a product's latent quality; shills
    # give 5/5 to one brand's products everywhere.
    shill_brand = rng.choice(BRANDS)
    for i in honest_idx:
        for info in rng.sample(s.products, rng.randint(5, 20)):
            scores = tuple(max(1, min(5, round(q + rng.gauss(0, 0.9)))) for q in info.quality)
            text = rng.choice(RATING_TEXTS)
            recs.append(
                R.build(
                    keys[i],
                    R.RatingBody(info.gtin, scores, text),
                    created_ms=ago(0.05, 55),
                    community=s.community_ids[info.community],
                )
            )
    favoured = [p for p in s.products if p.brand == shill_brand] or s.products[:10]
    for i in sorted(shill_idx):
        for info in favoured:
            scores = tuple(5 for _ in info.quality)
            recs.append(
                R.build(
                    keys[i],
                    R.RatingBody(info.gtin, scores, "Best product ever!!!"),
                    created_ms=ago(0.05, 20),
                    community=s.community_ids[info.community],
                )
            )

    # Petitions (two per community) and their signatures.
    for ci, spec in enumerate(COMMUNITIES):
        for title, text, target in rng.sample(PETITIONS, 2):
            created = ago(20, 40)
            deadline = now_ms + int(rng.uniform(30, 120) * DAY_MS)
            goal = rng.choice((100, 250, 500, 1000))
            author = keys[rng.choice(honest_idx)]
            pet = R.build(
                author,
                R.PetitionBody(f"{spec.name}: {title}", text, target, goal, deadline),
                created_ms=created,
                community=s.community_ids[ci],
            )
            recs.append(pet)
            s.petitions.append((ci, pet.id))
            for j in rng.sample(range(crowd), min(crowd, rng.randint(15, 90))):
                t = created + rng.randint(HOUR_MS, now_ms - created - 60_000)
                recs.append(
                    R.build(keys[j], R.SignatureBody(pet.id), created_ms=t, community=pet.community)
                )

    # Vouches: honest authors trust a few others (mostly globally, some only in
    # one community) and several distrust the shills; shills vouch for each other.
    for i in honest_idx:
        others = [j for j in honest_idx if j != i]
        subjects = rng.sample(others, min(len(others), rng.randint(1, 4)))
        for j in subjects:
            comm = s.community_ids[rng.randrange(len(COMMUNITIES))] if rng.random() < 0.25 else None
            recs.append(
                R.build(
                    keys[i], R.VouchBody(s.crowd[j], True), created_ms=ago(1, 50), community=comm
                )
            )
        if rng.random() < 0.15:
            recs.append(
                R.build(
                    keys[i],
                    R.VouchBody(s.crowd[rng.choice(sorted(shill_idx))], False),
                    created_ms=ago(1, 10),
                )
            )
    for i in sorted(shill_idx):
        for j in sorted(shill_idx):
            if i != j:
                recs.append(R.build(keys[i], R.VouchBody(s.crowd[j], True), created_ms=ago(1, 20)))
    return s


def seed_relay_store(db: Path, sample: Sample) -> int:
    """Write the crowd's records into a (stopped) relay's store; the number stored."""
    with Store(db, durable=False) as store:
        outcomes = store.ingest(sample.records)
        store.env.sync(True)
    return sum(1 for o in outcomes if o.status is Status.STORED)


LOOPBACK = "/ip4/127.0.0.1/tcp/0"
DEFAULT_NODES = 4
DEFAULT_SEED = 2024
DEFAULT_TIMEOUT_S = 120.0
STATUS_EVERY_S = 5.0
TRICKLE_EVERY_S = 3.0
SYNC_INTERVAL_S = 3  # demo nodes re-sync often, so a lost gossip message is soon repaired


class DemoError(Exception):
    """Something the demo could not do; the message says what and where to look."""


def _temp_root() -> str:
    # A Unix socket path has at most 103 bytes: stay near the root if TMPDIR is long.
    tmp = tempfile.gettempdir()
    return tmp if len(tmp) <= 40 else "/tmp"


@dataclass
class Options:
    nodes: int = DEFAULT_NODES
    seed: int = DEFAULT_SEED
    headless: bool = False
    duration: float | None = None
    until_synced: bool = False
    timeout: float = DEFAULT_TIMEOUT_S
    json: bool = False
    crowd: int = CROWD


class Demo:
    def __init__(self, opts: Options, out: TextIO = sys.stdout) -> None:
        self.opts = opts
        self.out = out
        self.rng = random.Random(opts.seed + 1)
        self.dirs: list[Path] = []
        self.children: list[Child] = []  # every process started, so that close() stops it
        self.relay: Child | None = None
        self.personal: list[Child] = []
        self.names: list[str] = []
        self.sample: Sample | None = None
        self.lock = threading.Lock()  # the trickle thread and the status line share the rng
        self.activity = 0
        self.seeded = 0
        self.in_tui = False

    # -- output

    def say(self, text: str) -> None:
        if not self.opts.json:
            self._print(f"demo: {text}")

    def emit(self, event: str, **data: Any) -> None:
        if self.opts.json:
            self._print(json.dumps({"event": event, **data}))

    def _print(self, line: str) -> None:
        with contextlib.suppress(OSError):  # a closed terminal must not stop the clean-up
            print(line, file=self.out, flush=True)

    # -- setup

    def _mkdir(self, label: str) -> DataDir:
        path = Path(tempfile.mkdtemp(prefix=f"cercle-demo-{label}-", dir=_temp_root()))
        self.dirs.append(path)  # mkdtemp made it 0700, as DataDir.ensure would
        dd = DataDir(path)
        dd.config.write_text(f"sync_interval_s = {SYNC_INTERVAL_S}\n", encoding="utf-8")
        return dd

    def _spawn(self, name: str, datadir: DataDir, command: list[str]) -> Child:
        child = spawn(name, datadir, node_argv(datadir, command), die_with_parent=True)
        self.children.append(child)  # first: a signal may stop the demo right after this
        self.emit("spawned", name=name, pid=child.proc.pid)
        return child

    def start(self) -> None:
        o = self.opts
        relay_dir = self._mkdir("relay")
        node_dirs = [self._mkdir(f"n{i}") for i in range(o.nodes)]
        self.names = [
            PERSONAL_NAMES[i] if i < len(PERSONAL_NAMES) else f"Node {i}" for i in range(o.nodes)
        ]
        for i, dd in enumerate(node_dirs):
            create_identity(dd.identity, unencrypted=True, seed=personal_seed(o.seed, i))
        self.emit("dirs", dirs=[str(d) for d in self.dirs])

        t0 = time.monotonic()
        self.sample = build_sample(o.seed, int(time.time() * 1000), crowd=o.crowd)
        stored = self.seeded = seed_relay_store(relay_dir.db, self.sample)
        self.say(
            f"signed {stored} records of {o.crowd} crowd authors in {time.monotonic() - t0:.1f} s"
        )

        listen = ["--listen", LOOPBACK]
        self.relay = self._spawn("relay", relay_dir, ["relay", *listen])
        relay_status = wait_ready([self.relay])["relay"]
        addrs = [a for a in relay_status["listen"] if a.startswith("/ip4/127.0.0.1/")]
        if not addrs:
            raise DemoError(f"the relay listens on no loopback address: {relay_status['listen']}")
        boot = addrs[0] if "/p2p/" in addrs[0] else f"{addrs[0]}/p2p/{relay_status['peer_id']}"
        self.say(f"relay up at {boot}")

        for name, dd in zip(self.names, node_dirs, strict=True):
            self.personal.append(self._spawn(name, dd, ["node", *listen, "--bootstrap", boot]))
        wait_ready(self.personal)
        self.emit(
            "started",
            pids=[c.proc.pid for c in self.children],
            dirs=[str(d) for d in self.dirs],
            sockets={c.name: str(c.socket) for c in self.children},
        )
        self.say(f"{len(self.personal)} personal nodes up: {', '.join(self.names)}")

    def seed_personal(self, deadline: float) -> None:
        """What the personal nodes' authors do through their APIs."""
        s = self.sample
        assert s is not None
        rng = random.Random(self.opts.seed + 2)
        authors = [c.call("status")["author"] for c in self.personal]
        comm_hex = [c.hex() for c in s.community_ids]
        for i, c in enumerate(self.personal):
            c.call("profile.set", display_name=self.names[i], about="Demo user")
            for cid in comm_hex:
                c.call("communities.join", id=cid)
        self.wait_caught_up(deadline)  # what they rate and sign must be known to their node
        for i, c in enumerate(self.personal):
            # Trust: a few honest crowd authors and the other demo users; distrust a shill.
            for subject in rng.sample(s.honest, min(6, len(s.honest))):
                c.call("vouch", subject=subject.hex(), trust=True)
            for j, other in enumerate(authors):
                if j != i and rng.random() < 0.6:
                    c.call("vouch", subject=other, trust=True)
            if s.shills:
                c.call("vouch", subject=rng.choice(s.shills).hex(), trust=False)
            # A product of their own, some ratings, signatures.
            ci = rng.randrange(len(COMMUNITIES))
            spec = COMMUNITIES[ci]
            code = R.with_check_digit(
                f"20{i:02d}{rng.randrange(10**8):08d}"
            )  # in-store range 20–29
            c.call(
                "products.put",
                community=comm_hex[ci],
                gtin=code,
                name=f"Homemade {rng.choice(spec.kinds)}",
                brand=f"{self.names[i]}'s kitchen",
                labels=list(spec.labels[:2]),
            )
            for info in rng.sample(s.products, 6):
                self._rate(c, info, rng)
            for _, pid in rng.sample(s.petitions, 3):
                self._sign(c, pid.hex())
        if self.personal:
            ci = rng.randrange(len(COMMUNITIES))
            title, text, target = rng.choice(PETITIONS)
            self.personal[0].call(
                "petitions.create",
                community=comm_hex[ci],
                title=f"{self.names[0]}: {title}",
                text=text,
                target=target,
                goal=50,
                deadline_ms=int(time.time() * 1000) + 60 * DAY_MS,
            )
        self.say("personal nodes joined, vouched, rated and signed")

    def _rate(self, c: Child, info: ProductInfo, rng: random.Random) -> None:
        assert self.sample is not None
        scores = [max(1, min(5, round(q + rng.gauss(0, 0.8)))) for q in info.quality]
        c.call(
            "ratings.put",
            community=self.sample.community_ids[info.community].hex(),
            gtin=info.gtin,
            scores=scores,
            text=rng.choice(RATING_TEXTS),
        )

    def _sign(self, c: Child, petition: str) -> None:
        try:
            c.call("petitions.sign", id=petition)
        except ApiError as exc:
            if exc.code != "rejected":  # already signed is fine
                raise

    # -- running

    def counts(self) -> dict[str, int | None]:
        out: dict[str, int | None] = {}
        for c in self.children:
            status = probe(c.socket, timeout=5.0)
            out[c.name] = None if status is None else int(status["records"])
        return out

    def wait_counts(
        self, deadline: float, done: Callable[[dict[str, int | None]], bool], what: str
    ) -> dict[str, int | None]:
        """Poll every node's record count until ``done(counts)``; DemoError at ``deadline``."""
        last_line = time.monotonic()
        while True:
            check_running(self.children)
            counts = self.counts()
            if None not in counts.values() and done(counts):
                return counts
            if time.monotonic() > deadline:
                raise DemoError(f"{what} took too long (see --timeout): {counts}")
            if time.monotonic() - last_line > STATUS_EVERY_S:
                last_line = time.monotonic()
                self.say(f"{what}… " + self._counts_text(counts))
            time.sleep(0.3)

    def wait_caught_up(self, deadline: float) -> None:
        """Wait until each personal node holds the crowd's records (and its own profile)."""
        names = {c.name for c in self.personal}
        self.wait_counts(
            deadline,
            lambda counts: all((counts[n] or 0) > self.seeded for n in names),
            "catching up with the relay",
        )

    def wait_synced(self, deadline: float) -> dict[str, int | None]:
        """Wait until every node holds as many records as the others, all the seeded ones too."""
        return self.wait_counts(
            deadline,
            lambda counts: (
                len(set(counts.values())) == 1
                and min(v or 0 for v in counts.values()) >= max(1, self.seeded)
            ),
            "syncing",
        )

    @staticmethod
    def _counts_text(counts: dict[str, int | None]) -> str:
        return ", ".join(f"{k} {'?' if v is None else v}" for k, v in counts.items())

    def trickle_once(self) -> None:
        """One personal node rates a product or signs a petition."""
        assert self.sample is not None
        with self.lock:
            i = self.rng.randrange(len(self.personal))
            c = self.personal[i]
            if self.rng.random() < 0.75:
                info = self.rng.choice(self.sample.products)
                self._rate(c, info, self.rng)
                what = f"{self.names[i]} rated {info.brand} {info.name}"
            else:
                _, pid = self.rng.choice(self.sample.petitions)
                self._sign(c, pid.hex())
                what = f"{self.names[i]} signed a petition"
            self.activity += 1
        self.emit("activity", text=what)

    def _trickle_thread(self, stop: threading.Event) -> None:
        while not stop.wait(TRICKLE_EVERY_S):
            with contextlib.suppress(*CALL_ERRORS):
                self.trickle_once()

    def run_headless(self) -> None:
        o = self.opts
        end = None if o.duration is None else time.monotonic() + o.duration
        next_trickle = time.monotonic() + TRICKLE_EVERY_S
        next_status = time.monotonic()
        while end is None or time.monotonic() < end:
            check_running(self.children)
            now = time.monotonic()
            if now >= next_trickle:
                next_trickle = now + TRICKLE_EVERY_S
                with contextlib.suppress(*CALL_ERRORS):
                    self.trickle_once()
            if now >= next_status:
                next_status = now + STATUS_EVERY_S
                counts = self.counts()
                self.say(f"records: {self._counts_text(counts)}; activity {self.activity}")
                self.emit("status", records=counts, activity=self.activity)
            wake = min(next_trickle, next_status, end if end is not None else next_status)
            time.sleep(max(0.05, min(1.0, wake - time.monotonic())))

    def run_tui(self) -> int:
        stop = threading.Event()
        thread = threading.Thread(target=self._trickle_thread, args=(stop,), daemon=True)
        thread.start()
        self.in_tui = True
        try:
            return open_tui(
                self.personal[0].socket,
                title=f"Cercle demo — {self.names[0]}",
                otherwise="run `cercle demo --headless` instead",
            )
        finally:
            self.in_tui = False
            stop.set()
            thread.join(timeout=15)

    def run(self) -> int:
        o = self.opts
        self.start()
        deadline = time.monotonic() + o.timeout
        self.seed_personal(deadline)
        counts = self.wait_synced(deadline)
        self.say(f"network seeded and in sync: {self._counts_text(counts)}")
        self.emit("synced", records=counts)
        if o.until_synced:
            return 0
        if o.headless:
            self.run_headless()
            return 0
        return self.run_tui()

    def stop_network(self) -> None:
        """Stop every child and remove every temporary directory (idempotent)."""
        stop_children(self.children)
        for d in self.dirs:
            shutil.rmtree(d, ignore_errors=True)

    def close(self) -> None:
        self.stop_network()
        self.emit("stopped", pids=[c.proc.pid for c in self.children])
        self.say("stopped every node and removed the temporary directories")


class Stop(BaseException):
    """A signal asked the demo to stop.

    A BaseException, like KeyboardInterrupt, so that an event loop running
    callbacks (the TUI's) lets it through instead of logging it and going on.
    """


# Ctrl+C, kill, and the terminal closing: all stop the network and clean up.
STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)


@contextlib.contextmanager
def _signals_raise_stop(demo: Demo) -> Iterator[None]:
    """SIGTERM, SIGINT and SIGHUP become :class:`Stop`, raised where the main thread is.

    While the TUI runs, an exception would land inside its event loop, which need
    not let it through: the network is stopped and the directories removed right
    here, and the TUI, which hears these signals first (``exit_on_signals``), exits
    on its own.
    """

    def handler(signum: int, frame: object) -> None:
        if demo.in_tui:
            demo.stop_network()  # no output: the TUI owns the terminal, if any is left
            return
        raise Stop(signal.Signals(signum).name)

    old = {sig: signal.signal(sig, handler) for sig in STOP_SIGNALS}
    try:
        yield
    finally:
        for sig, h in old.items():
            signal.signal(sig, h)


def run_demo(opts: Options, out: TextIO = sys.stdout) -> int:
    """Run the demo until it is done or stopped; always stop the network and clean up."""
    demo = Demo(opts, out)
    code = 1
    with _signals_raise_stop(demo):
        try:
            code = demo.run()
        except Stop as exc:
            demo.say(f"{exc}: stopping")
            code = 0
        except (DemoError, ChildError) as exc:
            print(f"cercle: error: {exc}", file=sys.stderr)
            code = 1
        finally:
            # A second Ctrl+C during the clean-up must not leave children behind.
            for sig in STOP_SIGNALS:
                signal.signal(sig, signal.SIG_IGN)
            demo.close()
    return code


def _positive(kind: type) -> Callable[[str], Any]:
    def parse(text: str) -> Any:
        value = kind(text)
        if value <= 0:
            raise argparse.ArgumentTypeError(f"must be positive: {text}")
        return value

    return parse


def _demo(args: argparse.Namespace, datadir: DataDir) -> int:
    if not 1 <= args.nodes <= len(PERSONAL_NAMES):
        print(f"cercle: error: --nodes must be 1..{len(PERSONAL_NAMES)}", file=sys.stderr)
        return 2
    opts = Options(
        nodes=args.nodes,
        seed=args.seed,
        headless=args.headless or args.until_synced,
        duration=args.duration,
        until_synced=args.until_synced,
        timeout=args.timeout,
        json=args.json,
        crowd=args.crowd,
    )
    return run_demo(opts)


def register(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "demo",
        help="run a small seeded demo network on this machine (loopback only)",
        description="Start a relay and several personal nodes on 127.0.0.1, each in a "
        "temporary directory, seed them with sample communities, products, ratings and "
        "petitions, keep some activity going and open the TUI on one of them. Ctrl+C stops "
        "everything and removes the temporary directories.",
    )
    p.add_argument("--headless", action="store_true", help="no TUI: print status lines")
    p.add_argument(
        "--nodes",
        type=int,
        default=DEFAULT_NODES,
        metavar="N",
        help=f"personal nodes (default {DEFAULT_NODES})",
    )
    p.add_argument(
        "--seed",
        type=int,
        default=DEFAULT_SEED,
        metavar="S",
        help=f"seed of the sample data (default {DEFAULT_SEED})",
    )
    p.add_argument(
        "--duration",
        type=_positive(float),
        metavar="SECONDS",
        help="with --headless: stop after this long",
    )
    p.add_argument(
        "--until-synced",
        action="store_true",
        help="stop as soon as every node holds every seeded record (implies --headless)",
    )
    p.add_argument(
        "--timeout",
        type=_positive(float),
        default=DEFAULT_TIMEOUT_S,
        metavar="SECONDS",
        help=f"how long records may take to reach every node (default {DEFAULT_TIMEOUT_S:g})",
    )
    p.add_argument(
        "--crowd",
        type=_positive(int),
        default=CROWD,
        metavar="N",
        help=f"authors whose records are pre-seeded (default {CROWD})",
    )
    p.add_argument("--json", action="store_true", help="machine-readable output (JSON lines)")
    p.set_defaults(func=_demo)
