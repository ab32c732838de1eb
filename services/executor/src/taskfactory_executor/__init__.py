"""taskfactory executor."""
