"""Errors the user can fix (bad input, bad config)."""


class UserError(Exception):
    """Bad input or configuration: printed as one clear line naming the file (and row)."""
