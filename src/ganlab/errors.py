"""Errors the user can fix: the CLI prints their message on one line and exits with code 2."""


class GanlabError(Exception):
    """Base class for user-facing errors (bad input, bad config, missing data)."""
