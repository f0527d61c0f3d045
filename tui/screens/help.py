"""The help screen: what Cercle shows and the keys (also in the footer and ctrl+p)."""

from __future__ import annotations

from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Markdown

HELP = """\
# Cercle

Communities of consumers rate products and sign petitions; every record is signed
by its author. Each score is shown twice: **all raters**, and **people you trust**
(those you vouched for, and those they vouched for), with the reason.

## Everywhere

| Key | |
|---|---|
| `h` | communities (home) |
| `/` | search products by name, brand or barcode |
| `i` | your identity, profile, vouches given and received |
| `n` | network: peers and relays, topics, sync, rejected records |
| `u` | show or hide authors outside a community's trust floor (`cercle community min-trust`) |
| `ctrl+p` | command palette: every screen and action |
| `ctrl+r` | refresh this screen |
| `escape` | back |
| `?` or `F1` | this help |
| `q` / `ctrl+q` | quit |

## Communities

`enter` opens, `c` creates, `j` joins, `l` leaves.

## A community

Tabs (keys `1`, `2`, `3` or a click): products (best rated first), petitions,
activity (live).
`r` rates a product, `p` starts a petition, `m` loads more products
(scrolling to the bottom does too), `j`/`l` join or leave.

## A product

`r` rates or re-rates it, `x` retracts your rating, `m` loads more ratings.
Ratings by people you trust come first, nearest first.

## A petition

`s` signs, `e` exports a self-verifying bundle to a file (`cercle verify FILE`
checks it offline), `m` loads more signers. Trusted signers are listed first,
nearest first.

## Forms

`enter` or `ctrl+s` saves, `escape` cancels. Errors show under each field and
nothing is sent until they are fixed.

Muted and blocked authors and hidden records (`cercle mute`, `block`, `hide`)
stay out of every list; blocked authors also leave your trust network.

If the node stops, a banner says so and the TUI reconnects by itself.
"""


class HelpScreen(ModalScreen[None]):
    """Keys and concepts; any of escape, q, ? or F1 closes it."""

    DEFAULT_CSS = """
    HelpScreen {
        align: center middle;
    }
    HelpScreen > VerticalScroll {
        width: 80;
        max-width: 95%;
        height: 90%;
        border: thick $primary;
        background: $surface;
    }
    """
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,q,question_mark,f1", "close", "Close"),
    ]

    def compose(self) -> ComposeResult:
        with VerticalScroll():
            yield Markdown(HELP)

    def action_close(self) -> None:
        self.dismiss(None)
