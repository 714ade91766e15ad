"""The ``cartum-roapp`` command-line tool that connects a store; the checks its setup must pass
are in ``setup_checks``."""
