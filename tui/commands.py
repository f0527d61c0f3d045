"""The command palette's Cercle commands: every screen, and the current screen's actions."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any

from textual.binding import Binding
from textual.command import DiscoveryHit, Hit, Hits, Provider

GO_TO = (
    ("communities", "Go to communities", "the communities you joined and heard of"),
    ("search", "Search products", "by name, brand or barcode"),
    ("identity", "Go to identity", "your key, profile and vouches"),
    ("network", "Go to network", "peers, sync sessions, rejected records"),
)


class CercleCommands(Provider):
    """Lists the screens and the actions of the screen the palette was opened on."""

    def commands(self) -> list[tuple[str, Callable[[], Any], str]]:
        app = self.app
        out: list[tuple[str, Callable[[], Any], str]] = [
            (title, partial(app.run_action, f"goto('{mode}')"), help_text)
            for mode, title, help_text in GO_TO
        ]
        out.append(("Help", partial(app.run_action, "help"), "keys and concepts"))
        out.append(("Refresh", partial(self.screen.run_action, "reload"), "re-read this screen"))
        seen = {"reload", "back"}
        for binding in getattr(type(self.screen), "BINDINGS", []):
            if not isinstance(binding, Binding) or binding.action in seen:
                continue
            seen.add(binding.action)
            if binding.description:
                out.append(
                    (
                        binding.description,
                        partial(self.screen.run_action, binding.action),
                        f"key {binding.key}",
                    )
                )
        return out

    async def discover(self) -> Hits:
        for name, callback, help_text in self.commands():
            yield DiscoveryHit(name, callback, help=help_text)

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for name, callback, help_text in self.commands():
            score = matcher.match(name)
            if score > 0:
                yield Hit(score, matcher.highlight(name), callback, help=help_text)
