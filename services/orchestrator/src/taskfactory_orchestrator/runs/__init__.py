"""Runs this taskfactory started: listing them, their state, a person's decision, cancelling.
One set of operations (:class:`~.ops.RunOps`) for the CLI and the admin API."""
