"""taskfactory local stack."""
