"""A module that cannot be imported."""
raise ImportError("kirin-e2e-importerror-marker")
