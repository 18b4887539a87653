"""Wrong-thread and wrong-loop use, and bad arguments, are clear errors at the call (issue 14,
point 3): never a silent delay, an asyncio-internal error or a failure at run time."""

from __future__ import annotations

import asyncio
import functools
import threading
import types

import pytest

from queue_core import TaskQueue


async def work() -> str:
    return "done"


class AsyncCallable:
    async def __call__(self) -> str:
        return "done"


async def agen():  # type: ignore[no-untyped-def]
    yield 1


def sync_wrapper() -> object:
    return work()


@types.coroutine
def generator_based():  # type: ignore[no-untyped-def]
    yield


def test_submit_from_another_thread_is_refused_at_once(run) -> None:
    async def main() -> list[BaseException]:
        errors: list[BaseException] = []
        async with TaskQueue(workers=1) as queue:
            queue.submit(work)  # binds the queue to this loop and thread

            def elsewhere() -> None:
                try:
                    queue.submit(work)
                except RuntimeError as error:
                    errors.append(error)

            thread = threading.Thread(target=elsewhere, name="scraper-thread")
            thread.start()
            thread.join()  # a few wall ms
        return errors

    [error] = run(main())
    assert "called from thread 'scraper-thread'" in str(error)
    assert "call_soon_threadsafe" in str(error)


def test_a_queue_used_from_a_second_event_loop_names_the_loop_it_is_bound_to(run) -> None:
    queue = TaskQueue(workers=1)

    async def first() -> None:
        queue.start()
        await asyncio.sleep(0)  # the workers wait for work until the loop ends

    async def second() -> None:
        for call in (lambda: queue.submit(work), queue.start):
            with pytest.raises(RuntimeError, match="cancelled with the event loop it was "
                                                   "bound to, <.*make one TaskQueue per event"):
                call()
        with pytest.raises(RuntimeError, match="is bound to .*make one TaskQueue per event"):
            queue.cancel(1)
        with pytest.raises(RuntimeError, match="is bound to"):
            await queue.result(1)

    run(first())
    run(second())


@pytest.mark.parametrize(("handler", "says"), [
    (AsyncCallable, "is a class: calling it makes an instance"),
    (agen, "is an async generator function"),
    (sync_wrapper, "inspect.markcoroutinefunction"),
    (functools.partial(sync_wrapper), "inspect.markcoroutinefunction"),
    (generator_based, "generator-based coroutine"),
])
def test_a_handler_that_is_not_a_coroutine_function_is_told_what_it_is(run, handler, says):
    async def main() -> None:
        queue = TaskQueue(workers=1)
        with pytest.raises(TypeError, match=says):
            queue.submit(handler)
        queue.submit(AsyncCallable())  # an instance whose __call__ is async is a handler

    run(main())


@pytest.mark.parametrize(("settings", "error", "says"), [
    ({"workers": 10**9}, ValueError, "more than 100,000 workers"),
    ({"seed": [1]}, TypeError, r"seed=\[1\] must be an int or None"),
    ({"seed": True}, TypeError, "seed=True must be an int"),
])
def test_absurd_settings_are_refused_at_construction(settings, error, says) -> None:
    with pytest.raises(error, match=says):
        TaskQueue(**settings)


def test_a_task_id_that_is_not_equal_to_itself_is_refused(run) -> None:
    async def main() -> None:
        queue = TaskQueue(workers=1)
        with pytest.raises(ValueError, match="task_id=nan is not equal to itself"):
            queue.submit(work, task_id=float("nan"))

    run(main())


def test_cancel_from_sync_code_of_the_loops_own_thread_between_runs_still_works() -> None:
    loop = asyncio.new_event_loop()
    try:
        queue = TaskQueue(workers=1)

        async def bind() -> None:
            queue.start()

        loop.run_until_complete(bind())
        task_id = queue.submit(work, delay=5.0)  # no loop running: the same thread, fine
        assert queue.cancel(task_id) is True
        loop.run_until_complete(queue.shutdown())
    finally:
        loop.close()


def test_a_delayed_submit_on_a_second_loop_is_refused_and_not_counted(run) -> None:
    queue = TaskQueue(workers=1)

    async def first() -> None:
        queue.submit(work, delay=100.0)  # binds, never started: the loop then closes

    async def second() -> None:
        with pytest.raises(RuntimeError, match="is bound to"):
            queue.submit(work, delay=1.0)

    run(first())
    run(second())
    stats = queue.stats()
    assert (stats.submitted, stats.pending) == (1, 1)
