"""The engine's measures part (see shared/engine/__init__.py)."""
