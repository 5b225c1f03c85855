"""The engine's data part (see shared/engine/__init__.py)."""
