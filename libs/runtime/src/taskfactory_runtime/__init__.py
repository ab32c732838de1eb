"""taskfactory runtime: settings, logging, tracing, metrics, health, clients, CLI root."""

__all__ = ["__version__"]

__version__ = "0.1.0"
