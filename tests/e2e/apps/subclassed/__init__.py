"""Worker classes of a Gunicorn deployment: subclasses of Gunicorn's and
uvicorn's workers, good and bad, for tests/e2e/test_subclass.py."""
