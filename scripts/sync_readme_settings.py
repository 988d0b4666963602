"""Rewrite the README configuration table and .env.template from prsgazer.config.Settings (run after
changing a setting):

    uv run python scripts/sync_readme_settings.py
"""

from pathlib import Path

from prsgazer.config import settings_env_template, settings_markdown

repo = Path(__file__).resolve().parents[1]
readme = repo / "README.md"
lines = readme.read_text().split("\n")
start = next(i for i in range(len(lines) - 1) if lines[i].startswith("| ") and lines[i + 1].startswith("|---"))
end = start
while end < len(lines) and lines[end].startswith("|"):
    end += 1
lines[start:end] = settings_markdown().rstrip("\n").split("\n")
readme.write_text("\n".join(lines))
(repo / ".env.template").write_text(settings_env_template())
