"""`python -m prsgazer` runs the CLI."""

from prsgazer.cli import entry

entry()
