"""The marimo notebook app (`app.py`, served by `prsgazer notebook`) and what it draws: SVG plots
(`figures`) and HTML tables and reports (`export`). A front door: no domain logic. See docs/notebook.md.
"""
