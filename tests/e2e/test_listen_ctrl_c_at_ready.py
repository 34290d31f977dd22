"""A Ctrl-C that lands just after listen announced itself (a script that stops listen as soon
as it is ready, before the main loop began) stops the session as one in the loop does: clean-up,
the summary, exit 0; never "interrupted" with exit 130 (CI once saw that race)."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

# Runs the CLI with the session's announcement followed at once by a SIGINT to itself.
SCRIPT = textwrap.dedent(
    """
    import signal, sys
    from apimw_cli.session import run
    announce = run._announce

    def announce_then_ctrl_c(*args, **kwargs):
        announce(*args, **kwargs)
        signal.raise_signal(signal.SIGINT)  # handled at the next bytecode: still in set-up

    run._announce = announce_then_ctrl_c
    from apimw_cli.main import main
    sys.argv = ["apimw", "listen", "--port", "0", "--no-tunnel", "--secret", "whsec_test",
                "--format", "ndjson", "--ready-file", "ready"]
    main()
    """
)


def test_ctrl_c_right_after_the_banner_is_a_clean_stop(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert "interrupted" not in done.stderr
    kinds = [json.loads(line)["record"] for line in done.stdout.splitlines()]
    assert kinds[0] == "ready" and kinds[-1] == "summary"
    summary = json.loads(done.stdout.splitlines()[-1])
    assert summary["outcome"] == "interrupted"
    assert not (tmp_path / "ready").exists()  # the session cleaned up after itself


def test_ctrl_c_is_raised_again_after_a_failed_set_up(tmp_path: Path) -> None:
    """Once set-up failed after the banner, Ctrl-C is no longer held (the default handler)."""
    script = textwrap.dedent(
        """
        import signal
        from apimw_cli.session.stopping import HeldCtrlC
        import threading
        held = HeldCtrlC(threading.Event())
        try:
            with held:
                held.hold()
                raise RuntimeError("set-up failed")
        except RuntimeError:
            pass
        assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
        try:
            signal.raise_signal(signal.SIGINT)
        except KeyboardInterrupt:
            print("raised")
        """
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert done.stdout.strip() == "raised", done.stderr
