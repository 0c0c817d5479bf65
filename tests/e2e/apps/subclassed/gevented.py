"""A subclass of Gunicorn's gevent worker."""
from gunicorn.workers.ggevent import GeventWorker


class MyGeventWorker(GeventWorker):
    pass
