"""Returns an iterable whose close() appends "closed <query>" to the file
named by the environment variable KIRIN_TEST_CLOSE_FILE.
?big...  yields 128 MB in 64 KB chunks (for a client that hangs up early)
?fail... raises in the middle of the iteration, after the headers went out
"""
import os


class Body:
    def __init__(self, tag):
        self.tag = tag

    def __iter__(self):
        if self.tag.startswith("big"):
            chunk = b"x" * 65536
            for _ in range(2048):
                yield chunk
            return
        yield b"part one, "
        if self.tag.startswith("fail"):
            raise RuntimeError("kirin-e2e-midstream-marker")
        yield b"part two\n"

    def close(self):
        with open(os.environ["KIRIN_TEST_CLOSE_FILE"], "a") as f:
            f.write("closed %s\n" % self.tag)


def app(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])
    return Body(environ.get("QUERY_STRING", ""))
