"""The one exception type that the CLI turns into a single line and exit code 2."""


class SuiteError(Exception):
    """Bad input from the user (options, files, names): reported as one line, no traceback."""
