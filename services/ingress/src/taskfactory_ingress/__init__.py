"""taskfactory ingress."""
