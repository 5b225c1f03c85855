"""The engine's inference part (see shared/engine/__init__.py)."""
