"""Side-by-side benchmarks of stoker and the upstream chain: ``python -m bench`` (see README.md)."""
