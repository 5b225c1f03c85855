"""Where the pages' templates and static files are: one folder of each for both blueprints (the
admin pages serve the static files at /admin/static/, the user pages at /assets/; report.py
inlines the analysis script and style from there)."""

from pathlib import Path

TEMPLATES = Path(__file__).parent / "templates"
STATIC = Path(__file__).parent / "static"
