"""The command line: typer commands (commands.py) and rich terminal output (terminal_output.py)."""

from engine.cli.commands import app, main

__all__ = ["app", "main"]
