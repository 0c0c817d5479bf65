"""Returns an iterable whose close() appends a line to the file named by the
environment variable KIRIN_TEST_CLOSE_FILE (path ?id=... gives the line)."""
import os


class Body:
    def __init__(self, tag):
        self.tag = tag

    def __iter__(self):
        yield b"part one, "
        yield b"part two\n"

    def close(self):
        with open(os.environ["KIRIN_TEST_CLOSE_FILE"], "a") as f:
            f.write("closed %s\n" % self.tag)


def app(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])
    return Body(environ.get("QUERY_STRING", ""))
