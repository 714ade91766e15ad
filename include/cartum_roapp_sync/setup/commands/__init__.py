"""The commands of ``cartum-roapp stores``, one module each. Every module has a
``cmd_<command>(args, ui)`` that returns the exit code; ``ui`` is the terminal to ask at,
or None when nothing may be asked. Airflow is imported only once a command runs."""
