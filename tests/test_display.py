"""protocol.display: record text is shown as written, minus what would command the terminal."""

from __future__ import annotations

from cercle.protocol.display import printable, printable_value


def test_printable_keeps_text_and_drops_terminal_commands() -> None:
    text = "Tofu 豆腐 🌱 [bio]\n\tline two, é, 👩\u200d🌾"
    assert printable(text) is text  # nothing to change: the same object
    bad = "a\x1b[2Jb\x07c\x00d\x7fe\x9bf"
    assert printable(bad) == "a\ufffd[2Jb\ufffdc\ufffdd\ufffde\ufffdf"
    assert printable("evil\u202egnp.exe \u2066x\u2069") == "evil\ufffdgnp.exe \ufffdx\ufffd"
    assert printable("one\r\ntwo\rthree") == "one\ntwothree"
    value = {"items": [{"name": "\x1b]0;pwned\x07", "n": 3, "raw": b"\x1b"}], "k\x1b": None}
    assert printable_value(value) == {
        "items": [{"name": "\ufffd]0;pwned\ufffd", "n": 3, "raw": b"\x1b"}],
        "k\ufffd": None,
    }
