"""Benchmarks that print a table. Run them as modules from the repository root
(`python -m bench.encode`, or `make bench-encode`, `make bench-queue`, `make chaos`):
run as scripts, this folder would come first on sys.path and bench/queue.py would
shadow the standard library's queue module."""
