"""Fake Cartum and RO App API servers for the tests and the demo, kept out of the
``cartum_roapp_sync`` provider package so that Airflow never installs them.

Run them with ``python -m cartum_roapp_sandbox.cartum --help`` and
``python -m cartum_roapp_sandbox.roapp --help``; ``server`` is their shared HTTP
machinery and ``admin`` a small client for their admin API.
"""
