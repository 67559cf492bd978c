"""Errors that tito reports to a person as one line, without a traceback."""


class TitoError(Exception):
    """A user-facing problem: the message says what went wrong and what to do."""
