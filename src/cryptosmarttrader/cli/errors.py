"""Errors the CLI turns into one line on stderr and an exit code, never a traceback."""

from __future__ import annotations

EXIT_OK = 0
EXIT_FAILURE = 1  # the command ran and failed (an order rejected, a database error)
EXIT_USAGE = 2  # bad input or configuration: nothing was written


class CliError(Exception):
    def __init__(self, message: str, exit_code: int = EXIT_FAILURE) -> None:
        super().__init__(message)
        self.message = message
        self.exit_code = exit_code


class UsageError(CliError):
    def __init__(self, message: str) -> None:
        super().__init__(message, EXIT_USAGE)
