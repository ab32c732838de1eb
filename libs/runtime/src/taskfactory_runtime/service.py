"""Process lifecycle shared by the services: signals, graceful shutdown, exit codes."""

from __future__ import annotations

import asyncio
import gc
import signal
import sys
from collections.abc import Awaitable, Callable
from typing import NoReturn, TypeVar

from taskfactory_contracts.errors import TaskFactoryError
from taskfactory_runtime import __version__
from taskfactory_runtime.logging import get_logger
from taskfactory_runtime.settings import ServiceSettings

__all__ = ["run_until_signalled", "serve"]

S = TypeVar("S", bound=ServiceSettings)

log = get_logger(__name__)


def run_until_signalled(main: Callable[[asyncio.Event], Awaitable[None]]) -> int:
    """Run ``main(stop)``; SIGTERM or SIGINT sets ``stop`` and ``main`` drains and returns.

    A second signal while draining cancels ``main``. Returns the process exit code.
    """

    async def runner() -> int:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        task = asyncio.current_task()

        def on_signal(signum: int) -> None:
            if stop.is_set():
                log.warning("second signal, cancelling", signal=signal.Signals(signum).name)
                if task is not None:
                    task.cancel()
                return
            log.info("stopping", signal=signal.Signals(signum).name)
            stop.set()

        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, on_signal, sig)
        try:
            await main(stop)
        except asyncio.CancelledError:
            return 130
        return 0

    try:
        return asyncio.run(runner())
    except TaskFactoryError as exc:
        # Configuration, credentials, TLS, definitions: the message names what to fix, and a
        # traceback would bury it. Unexpected failures below keep theirs.
        log.error("service failed", reason=exc.reason, error=str(exc))
        return 1
    except Exception:
        log.exception("service failed")
        return 1


def serve(
    settings: S, run: Callable[[S, asyncio.Event], Awaitable[None]], *, service: str
) -> NoReturn:
    """A service's whole ``main()``: logging, tracing, run until signalled, exit with its code."""
    from taskfactory_runtime.logging import configure_logging
    from taskfactory_runtime.tracing import configure_tracing

    configure_logging(settings.logging, service=service)
    shutdown_tracing = configure_tracing(
        settings.tracing, service=f"taskfactory-{service}", version=__version__
    )
    try:
        code = run_until_signalled(lambda stop: run(settings, stop))
    finally:
        shutdown_tracing()
        # Drop the Temporal client's native runtime before interpreter finalization, which
        # otherwise can abort the process (exit 134) instead of exiting with our code.
        gc.collect()
    sys.exit(code)
