"""taskfactory orchestrator."""
