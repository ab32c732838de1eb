"""``python -m taskfactory_stack`` = ``taskfactory-stack``."""

from taskfactory_stack.cli import main

main()
