"""Proof-of-work cost: how long an author's machine needs to mine a record.

A community charter may ask for ``pow_bits`` leading zero bits of the record id
from authors outside the viewer's trust network (see specs/records.md).  Each
try re-signs the record with a new nonce (Ed25519 signatures are deterministic),
so the cost is about 2**bits signatures; verifying costs one hash.

    python bench/pow.py [--bits 4 8 12 16] [--samples 5]
"""

from __future__ import annotations

import argparse
import hashlib
import statistics
import time

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from cercle.protocol import records as R


def mine(key: Ed25519PrivateKey, body: R.Body, bits: int, t: int, comm: bytes) -> tuple[int, int]:
    nonce = 0
    while True:
        unsigned = [R.VERSION, int(body.KIND), key.public_key().public_bytes_raw(), t, comm,
                    nonce, body.to_wire()]  # fmt: skip
        sig = key.sign(R.signing_input(unsigned))
        raw = R.canonical.encode([*unsigned, sig])
        if R.leading_zero_bits(R.record_id(raw)) >= bits:
            R.verify(R.decode(raw))
            return nonce + 1, len(raw)
        nonce += 1


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--bits", type=int, nargs="+", default=[4, 8, 12, 16])
    ap.add_argument("--samples", type=int, default=5)
    args = ap.parse_args()
    key = Ed25519PrivateKey.from_private_bytes(hashlib.sha256(b"pow-bench").digest())
    comm = hashlib.sha256(b"community").digest()
    summary = []
    for bits in args.bits:
        times, tries = [], []
        for i in range(args.samples):
            body = R.RatingBody("4006381333931", (4, 5), f"sample {i}")
            start = time.perf_counter()
            n, _ = mine(key, body, bits, 1_700_000_000_000 + i, comm)
            times.append(time.perf_counter() - start)
            tries.append(n)
        med = statistics.median(times)
        mean_tries = statistics.mean(tries)
        print(f"bits={bits:2d}: median {med * 1000:9.1f} ms, mean tries {mean_tries:9.0f}"
              f" (expected {2**bits})")  # fmt: skip
        summary.append(f"bits{bits}_ms={med * 1000:.1f}")
    t = time.perf_counter()
    for _ in range(10000):
        R.leading_zero_bits(hashlib.sha256(b"x").digest())
    print(f"checking the work: {(time.perf_counter() - t) / 10000 * 1e6:.2f} µs per record")
    print(" ".join(summary))


if __name__ == "__main__":
    main()
