"""The engine's inspection part (see shared/engine/__init__.py)."""
