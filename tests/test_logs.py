"""prsgazer.logs: loguru imported on first use, configured before or after that import."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap


def _python(code: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LOGURU_")}
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, env=env, timeout=120
    )


def test_configured_before_loguru_is_imported() -> None:
    """The level and format set before loguru's import are the ones its stderr sink uses."""
    r = _python(
        """
        import sys
        from prsgazer import logs
        logs.configure("WARNING")
        assert "loguru" not in sys.modules
        logs.logger.info("not shown")
        logs.logger.warning("shown {}", 1)
        assert "loguru" in sys.modules
        logs.configure("ERROR")  # loguru imported now: its sinks are replaced
        logs.logger.warning("hidden")
        logs.logger.error("also shown")
        """
    )
    assert r.returncode == 0, r.stderr
    assert r.stderr.splitlines() == ["WARNING: shown 1", "ERROR: also shown"]


def test_a_score_command_does_not_import_loguru(tmp_path) -> None:
    """The modules a `prsgazer score` imports leave loguru alone (20-30 ms of every start), and the
    records they log still reach stderr when they do log."""
    r = _python(
        """
        import sys
        import prsgazer.cli, prsgazer.cli.score, prsgazer.ops.score, prsgazer.engine.scoring.run
        from prsgazer.cli import configure_logging
        configure_logging()
        print("loguru" in sys.modules, "asyncio" in sys.modules)
        from prsgazer.engine.genotypes import open as opening
        opening.logger.warning("from {}", "open")
        """
    )
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == ["False", "False"]
    assert r.stderr.strip() == "WARNING: from open"
