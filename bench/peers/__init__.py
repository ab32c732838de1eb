"""Peers for ``bench/peers_bench.py``: DBOS and Restate, installed and run by the harness.

The apps (``dbos_app.py``, ``restate_app.py``) run in a bench-only venv under
``.stack/bench/`` and never enter the workspace lock.
"""
