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

One module per job:

* :mod:`.vocabulary`: the words (names, communities, brands, products, texts);
* :mod:`.sample`: the crowd's deterministic keys and signed records, and the
  relay's store seeded with them;
* :mod:`.scenario`: :class:`~.scenario.Demo`, which starts the network, seeds the
  personal nodes through their APIs, waits for sync, keeps the trickle going and
  stops it all (its processes through :mod:`cercle.node.cli.supervisor`);
* :mod:`.command`: the ``cercle demo`` flags (:func:`register`) and the signals.
"""

from cercle.node.demo.command import register

__all__ = ["register"]
