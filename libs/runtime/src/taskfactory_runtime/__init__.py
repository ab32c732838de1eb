"""taskfactory runtime."""
