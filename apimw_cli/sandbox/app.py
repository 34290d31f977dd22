"""The sandbox's HTTP API (starlette), faithful to docs/apimw-api.md.

Every answer is an APIMW envelope, errors included (404, 405, bad JSON, oversized bodies), and
carries the rate-limit headers. Handlers (routes/) do only quick SQLite work: deliveries run in
the worker's thread.
"""

from __future__ import annotations

import asyncio
import gc
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from starlette.applications import Starlette

from apimw_cli.sandbox.clock import Clock
from apimw_cli.sandbox.config import SandboxConfig
from apimw_cli.sandbox.context import Sandbox
from apimw_cli.sandbox.envelopes import EXCEPTION_HANDLERS
from apimw_cli.sandbox.ratelimit import RateLimit
from apimw_cli.sandbox.routes import ROUTES
from apimw_cli.sandbox.store import Store
from apimw_cli.sandbox.worker import DeliveryWorker


def create_app(config: SandboxConfig, *, loop: str = "asyncio") -> Starlette:
    """The ASGI app; its lifespan opens the store and runs the delivery worker, on `loop`
    ("uvloop" or "asyncio": the server's stack, server_stack.detect())."""

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        store = Store(config.db_path(), own_dir=config.data_dir is None)
        clock = Clock(config.time_scale)
        worker = DeliveryWorker(
            store,
            clock,
            timeout=config.delivery_timeout,
            log=config.log,
            window=config.service_window,
            loop=loop,
        )
        app.state.sandbox = Sandbox(
            config=config, store=store, worker=worker, clock=clock, key=store.tokens.signing_key()
        )
        worker.start()
        demo = None
        if config.demo:
            from apimw_cli.sandbox.demo import start_demo

            demo = start_demo(worker)
        # Everything loaded so far lives as long as the process: keep it out of the garbage
        # collector's full passes, which otherwise stall every thread for tens of milliseconds.
        gc.freeze()
        if config.on_ready is not None:
            config.on_ready()
        try:
            yield
        finally:
            if demo is not None:
                demo.cancel()
            await asyncio.to_thread(worker.stop)
            store.close()

    app = Starlette(routes=ROUTES, exception_handlers=dict(EXCEPTION_HANDLERS), lifespan=lifespan)
    app.add_middleware(
        RateLimit, limit=config.rate_limit, window=config.rate_window, log=config.log
    )
    return app
