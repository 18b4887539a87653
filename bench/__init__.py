"""Benchmarks of queue_core beside a bare asyncio pool and its peers; never part of the test run.

Built on :mod:`pytest_asyncqueue.benchmark` and its ``asyncqueue_bench`` fixture. Run them
with ``python -m pytest bench`` (a few minutes; ``-m quick`` for the CI subset), or print their
figures as markdown with ``python -m bench.report [--quick]``. The peers come with
``pip install -e '.[bench]'``.
"""
