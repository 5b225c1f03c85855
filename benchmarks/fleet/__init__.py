"""`make bench-fleet`: a simulated fleet at 1,000 to 100,000 jobs (see __main__.py)."""
