"""Subclasses kirin serves with the worker of their base class."""
from gunicorn.workers.sync import SyncWorker
from uvicorn.workers import UvicornWorker


class AsyncioWorker(UvicornWorker):
    CONFIG_KWARGS = {"loop": "asyncio", "http": "h11", "lifespan": "off",
                     "timeout_keep_alive": 7, "ws": "wsproto", "proxy_headers": True}

    def init_process(self):
        raise AssertionError("kirin must not call the class's methods")


class AgainWorker(AsyncioWorker):
    """A subclass of a subclass: its base's CONFIG_KWARGS, as Python inherits them."""


class LifespanOnWorker(UvicornWorker):
    CONFIG_KWARGS = {"loop": "asyncio", "lifespan": "on"}


class MySyncWorker(SyncWorker):
    pass


class NotAWorker:
    pass


not_a_class = "subclassed.workers.MySyncWorker"


class KwargsList(UvicornWorker):
    CONFIG_KWARGS = [("loop", "asyncio")]


class BadLoop(UvicornWorker):
    CONFIG_KWARGS = {"loop": "trio"}


class BadKeepAlive(UvicornWorker):
    CONFIG_KWARGS = {"timeout_keep_alive": "5"}


class BadHttp(UvicornWorker):
    CONFIG_KWARGS = {"http": 11}
