"""Celery workers: training (one job at a time, GPU machines) and sampling."""
