"""``python -m cercle.node.cli``: how the launcher, the demo and the benchmarks start a node."""

import sys

from cercle.node.cli.main import main

sys.exit(main())
