"""A worker module that raises while it is imported."""
raise RuntimeError("subclassed.raising refuses to import")
