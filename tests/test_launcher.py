"""`cercle` alone (first run, background node, TUI) and `cercle tui`.

The first-run dialogue is scripted (input/getpass patched), the node is a real
background process in a short data directory, and the TUI is a stub that checks
what it was given. No fixed sleeps: waits poll a condition under a deadline.
"""

from __future__ import annotations

import builtins
import getpass
import os
import re
import signal
import sys
import time
import types
from pathlib import Path

import pytest

from cercle.node.api.client import ApiClient
from cercle.node.cli.main import main
from cercle.node.files.keystore import create_identity, read_keystore


@pytest.fixture
def data_dir(short_dir: Path) -> Path:
    """A data directory that does not exist yet, with a short path (for the socket)."""
    return short_dir / "d"


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    from cercle.node.cli import launcher

    monkeypatch.setattr(launcher, "interactive", lambda: True)  # as if at a terminal
    monkeypatch.delenv("CERCLE_PASSWORD", raising=False)
    monkeypatch.delenv("CERCLE_DATA_DIR", raising=False)
    monkeypatch.setenv("CERCLE_SCRYPT_N", "1024")  # a cheap KDF for tests


def _script(monkeypatch: pytest.MonkeyPatch, answers: list[str], passwords: list[str]) -> None:
    def fake_input(prompt: str = "") -> str:
        assert answers, f"unexpected question: {prompt!r}"
        return answers.pop(0)

    def fake_getpass(prompt: str = "Password: ", stream: object = None) -> str:
        assert passwords, f"unexpected password prompt: {prompt!r}"
        return passwords.pop(0)

    monkeypatch.setattr(builtins, "input", fake_input)
    monkeypatch.setattr(getpass, "getpass", fake_getpass)


def _stub_tui(monkeypatch: pytest.MonkeyPatch, calls: list[Path]) -> None:
    def run_tui(socket_path: Path, *, title: str | None = None) -> int:
        calls.append(Path(socket_path))
        with ApiClient(Path(socket_path)) as client:  # the node answers while the TUI runs
            assert client.call("status")["author"]
        return 0

    fake = types.ModuleType("cercle.tui.app")
    fake.run_tui = run_tui  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "cercle.tui.app", fake)


def _wait_exit(pid: int, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            done, _ = os.waitpid(pid, os.WNOHANG)
        except ChildProcessError:
            return  # already reaped
        if done:
            return
        time.sleep(0.05)
    raise AssertionError(f"process {pid} did not exit within {timeout} s")


def _kill_quietly(pid: int) -> None:
    try:
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
    except (ProcessLookupError, ChildProcessError):
        pass


def test_first_run_creates_identity_starts_node_and_opens_tui(
    data_dir: Path,
    clean_env: None,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    calls: list[Path] = []
    _stub_tui(monkeypatch, calls)
    # A first password typed wrong twice, then "s3cret" twice.
    _script(monkeypatch, ["", "Test User"], ["s3cret", "typo", "s3cret", "s3cret"])
    pid = None
    try:
        assert main(["--data-dir", str(data_dir)]) == 0
        out = capsys.readouterr().out
        match = re.search(r"pid (\d+)", out)
        assert match, out
        pid = int(match.group(1))
        assert "fingerprint" in out
        assert read_keystore(data_dir / "identity.json").encrypted
        assert calls == [data_dir / "api.sock"]

        # The password reached the node through its environment, not its command line.
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
        assert b"s3cret" not in cmdline and b"node" in cmdline
        assert b"CERCLE_PASSWORD=s3cret" in Path(f"/proc/{pid}/environ").read_bytes()

        with ApiClient(data_dir / "api.sock") as client:
            assert client.call("identity.get")["display_name"] == "Test User"

        # Second run: the node is up, so no questions, no second node: just the TUI.
        _script(monkeypatch, [], [])
        assert main(["--data-dir", str(data_dir)]) == 0
        assert "pid" not in capsys.readouterr().out
        # `cercle tui` attaches to it too.
        assert main(["tui", "--data-dir", str(data_dir)]) == 0
        assert calls == [data_dir / "api.sock"] * 3

        os.kill(pid, signal.SIGTERM)
        _wait_exit(pid, timeout=20)
        pid = None
        assert not (data_dir / "api.sock").exists()
    finally:
        if pid is not None:
            _kill_quietly(pid)


def test_unencrypted_identity_is_an_explicit_choice(
    data_dir: Path,
    clean_env: None,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    from cercle.node.cli import launcher

    monkeypatch.setattr(launcher, "node_answers", lambda path, timeout=2.0: False)
    started: list[str | None] = []

    def no_node(datadir: object, password: str | None) -> object:
        started.append(password)
        raise launcher.LaunchError("not starting a node in this test")

    monkeypatch.setattr(launcher, "start_background_node", no_node)
    # Empty password, refuse the unencrypted key, empty again, accept it.
    _script(monkeypatch, ["Bob", "n", "yes"], ["", ""])
    assert main(["--data-dir", str(data_dir)]) == 1
    assert not read_keystore(data_dir / "identity.json").encrypted
    assert started == [None]
    assert "not starting a node" in capsys.readouterr().err


def test_tui_without_a_node_is_a_clear_error(
    data_dir: Path, clean_env: None, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["--data-dir", str(data_dir), "tui"]) == 1
    err = capsys.readouterr().err
    assert "no Cercle node is running" in err and str(data_dir) in err
    assert "Traceback" not in err
    assert not data_dir.exists()  # `cercle tui` creates nothing


def test_no_terminal_prints_usage(data_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # Without a terminal there is no one to ask and nowhere to draw: usage, status 2.
    assert main(["--data-dir", str(data_dir)]) == 2
    assert "usage:" in capsys.readouterr().err
    assert not data_dir.exists()


def test_a_node_that_fails_to_start_is_an_error_naming_its_log(
    data_dir: Path, clean_env: None, capsys: pytest.CaptureFixture[str]
) -> None:
    data_dir.mkdir()
    create_identity(data_dir / "identity.json", unencrypted=True)
    (data_dir / "config.toml").write_text("listen = 5\n")  # the node refuses to start
    assert main(["--data-dir", str(data_dir)]) == 1
    err = capsys.readouterr().err
    log = data_dir / "logs" / "console.log"
    assert f"the node exited while starting (status 1); see {log}" in err
    assert "Traceback" not in err
    assert "'listen' has the wrong type" in log.read_text()  # what the log is for
