"""Cron triggers as Temporal Schedules: the reconciler that keeps them in step with the
definitions, the operations a person runs on them (CLI and admin API), and the loop that syncs
them inside the orchestrator."""
