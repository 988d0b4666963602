"""Settings: read from the environment, every one documented in .env.template and the README."""

from __future__ import annotations

from pathlib import Path

from pydantic import ValidationError

from prsgazer.config import Settings, get_settings, reset_settings, settings_env_template, settings_markdown

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


def test_readme_table_and_env_template_are_generated_from_settings() -> None:
    # regenerate with: uv run python scripts/sync_readme_settings.py
    assert settings_markdown() in (REPO / "README.md").read_text()
    assert settings_env_template() == (REPO / ".env.template").read_text()


def test_bad_values_name_the_variable_and_what_is_allowed(monkeypatch) -> None:
    import pytest

    from prsgazer.errors import InputError

    monkeypatch.setenv("PRSGAZER_LOG_LEVEL", "LOUD")
    monkeypatch.setenv("PRSGAZER_MEMORY_LIMIT", "lots")
    reset_settings()
    with pytest.raises(InputError) as info:
        get_settings()
    text = str(info.value)
    assert "PRSGAZER_LOG_LEVEL='LOUD'" in text and "'WARNING'" in text
    assert "PRSGAZER_MEMORY_LIMIT='lots'" in text and "2GB" in text
    assert info.value.exit_code == 2
    monkeypatch.setenv("PRSGAZER_LOG_LEVEL", "debug")  # any case
    monkeypatch.setenv("PRSGAZER_MEMORY_LIMIT", "1500MiB")
    reset_settings()
    assert get_settings().log_level == "DEBUG"


def test_bad_environment_exits_2_with_one_line(tmp_path: Path) -> None:
    import os
    import subprocess
    import sys

    env = {**os.environ, "PRSGAZER_LOG_LEVEL": "LOUD", "PRSGAZER_HOME": str(tmp_path)}
    proc = subprocess.run([sys.executable, "-m", "prsgazer", "storage", "ls"], env=env, capture_output=True, text=True)
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr and "PRSGAZER_LOG_LEVEL='LOUD'" in proc.stderr


def test_from_env_reads_aliases_json_and_any_case() -> None:
    import pytest

    from prsgazer.config import settings_error

    s = Settings.from_env({"HF_TOKEN": "t1", "prsgazer_remote_push": "false", "PRSGAZER_REMOTE_OPTIONS": '{"a": 1}'})
    assert s.hf_token is not None and s.hf_token.get_secret_value() == "t1"
    assert s.remote_push is False and s.remote_options == {"a": 1}
    both = Settings.from_env({"HF_TOKEN": "t1", "PRSGAZER_HF_TOKEN": "t2"})
    assert both.hf_token is not None and both.hf_token.get_secret_value() == "t2"  # the prefixed name wins
    assert Settings.from_env({}).remote_options == {} and Settings.from_env({}).hf_endpoint == "https://huggingface.co"
    with pytest.raises(ValidationError) as info:
        Settings.from_env({"PRSGAZER_REMOTE_OPTIONS": "{not json", "PRSGAZER_MCP_PORT": "99999"})
    text = str(settings_error(info.value))
    assert "PRSGAZER_REMOTE_OPTIONS='{not json': " in text and "JSON" in text
    assert "PRSGAZER_MCP_PORT='99999'" in text
