"""The orchestrator's workflows, one per module.

This package imports none of them: the workflow sandbox re-imports a run's workflow module (and
so this package) for every new run, and importing every workflow here made each run pay for
all of them. Import a workflow from its own module.
"""
