"""Benchmarks of queue_core beside a bare asyncio pool; never part of the test run.

Run them with ``python -m pytest bench -p no:cacheprovider``, or print their figures as a
markdown table with ``python -m bench.report``.
"""
