"""Fault scenarios shared by the chaos tests (small N) and ``make chaos`` (``bench/chaos.py``).

Each scenario starts the three services on its own topics, consumer group, task queues and
workflow-id prefix, streams N events, injects one fault mid-stream, clears it, and then counts
what a user would count: runs, completed runs, result records (one per task), dead letters and
the ingress group's lag. It reports the recovery time: from the fault cleared to lag zero with
every result published.

Its parts: ``target`` (where the scenarios run, what one counted), ``world`` (one scenario's
services, producer and counters), ``faults`` and ``cluster_faults`` (the faults, and the
catalogues ``make chaos`` and ``make chaos-cluster`` run).
"""
