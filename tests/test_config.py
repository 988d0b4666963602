"""Settings: read from the environment, every one documented in .env.template and the README."""

from __future__ import annotations

from pathlib import Path

from prsgazer.config import Settings, get_settings, reset_settings, settings_markdown

REPO = Path(__file__).resolve().parents[1]


def test_settings_come_from_the_environment(monkeypatch, tmp_path: Path) -> None:
    monkeypatch.setenv("PRSGAZER_HOME", str(tmp_path / "h"))
    monkeypatch.setenv("PRSGAZER_LOCK_TIMEOUT", "7.5")
    reset_settings()
    s = get_settings()
    assert s.home == tmp_path / "h" and s.lock_timeout == 7.5


def test_every_setting_is_documented() -> None:
    template = (REPO / ".env.template").read_text()
    readme = (REPO / "README.md").read_text()
    for name in Settings.model_fields:
        var = f"PRSGAZER_{name.upper()}"
        assert var in template, f"{var} missing from .env.template"
        assert f"`{var}`" in readme, f"{var} missing from the README configuration table"


def test_readme_table_is_generated_from_settings() -> None:
    # regenerate with: uv run python scripts/sync_readme_settings.py
    assert settings_markdown() in (REPO / "README.md").read_text()
