"""The engine's training part (see shared/engine/__init__.py)."""
