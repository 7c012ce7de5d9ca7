"""Errors a user can fix: the stage reports them in one line and exits non-zero, no traceback."""


class PipelineError(Exception):
    """A problem with the user's input, parameters or artifacts; the message names the fix."""


class ParamsError(PipelineError):
    """params.yaml is missing a key, has an unknown key, a wrong type or an out-of-range value."""


class DataError(PipelineError):
    """An input artifact is missing, corrupt, truncated or of the wrong shape."""
