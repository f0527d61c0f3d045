"""The crowd: ~200 deterministic authors and their signed records, for the relay's store.

Why it is built here and not through the nodes' APIs: thousands of records
through a local API one call at a time would take minutes; signed here and
written into the relay's store before the relay starts, they cost a few
seconds, and the relay then serves them to every personal node through sync,
which is what the demo is there to show.

Everything follows ``seed`` (``random.Random(seed)`` and keys from
``sha256("cercle-demo/<tag>/<seed>/<n>")``), except the dates: they are
``now_ms`` minus a drawn age, so that nothing is dated in the future. A few
authors are shills that rate one brand 5/5 everywhere and vouch for each
other; some honest authors distrust them, so trusted aggregates differ from
the raw ones.
"""

from __future__ import annotations

import hashlib
import random
from dataclasses import dataclass, field
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from cercle.node.demo.vocabulary import (
    ADJECTIVES,
    BRANDS,
    COMMUNITIES,
    FIRST,
    GTIN_PREFIXES,
    LAST,
    PETITIONS,
    RATING_TEXTS,
)
from cercle.protocol import records as R
from cercle.protocol.identity import private_key_from_seed
from cercle.storage import Status, Store

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
