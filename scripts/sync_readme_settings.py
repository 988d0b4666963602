"""Rewrite the README configuration table from prsgazer.config.settings_markdown() (run after adding a setting):

    uv run python scripts/sync_readme_settings.py
"""

from pathlib import Path

from prsgazer.config import settings_markdown

readme = Path(__file__).resolve().parents[1] / "README.md"
lines = readme.read_text().split("\n")
start = next(i for i in range(len(lines) - 1) if lines[i].startswith("| ") and lines[i + 1].startswith("|---"))
end = start
while end < len(lines) and lines[end].startswith("|"):
    end += 1
lines[start:end] = settings_markdown().rstrip("\n").split("\n")
readme.write_text("\n".join(lines))
