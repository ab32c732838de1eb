"""Helpers of the integration, e2e, security and chaos tests (``from support.<module> import``).

What benchmarks, chaos runs and ``make run`` share with the tests lives in the local-stack
package instead (``taskfactory_stack.services``, ``.running``, ``.traffic``, ``.waiting``,
``.leftovers``, ``.chaos``): bench/ imports nothing from tests/.
"""
