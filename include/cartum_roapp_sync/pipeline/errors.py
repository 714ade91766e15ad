"""Errors a step raises on purpose."""


class FatalStepError(Exception):
    """Retrying this step will not help (bad data batch, bad settings): fail the run now."""
