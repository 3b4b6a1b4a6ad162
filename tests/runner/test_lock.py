import multiprocessing
import time

from icml22dl.runner.lock import RunLock


def hold(path, ready, seconds):
    with RunLock(path) as lock:
        assert lock.acquired
        ready.set()
        time.sleep(seconds)


def test_lock_is_exclusive_across_processes_and_released_on_sigkill(tmp_path):
    ctx = multiprocessing.get_context("spawn")
    ready = ctx.Event()
    holder = ctx.Process(target=hold, args=(tmp_path, ready, 60))
    holder.start()
    assert ready.wait(30)
    with RunLock(tmp_path) as lock:
        assert not lock.acquired  # the other process holds it
    holder.kill()  # SIGKILL
    holder.join()
    with RunLock(tmp_path) as lock:  # the kernel released the dead holder's lock
        assert lock.acquired
    with RunLock(tmp_path) as first:
        with RunLock(tmp_path) as second:
            assert first.acquired and not second.acquired


def test_blocking_lock_waits_for_the_holder(tmp_path):
    ctx = multiprocessing.get_context("spawn")
    ready = ctx.Event()
    holder = ctx.Process(target=hold, args=(tmp_path, ready, 1.0))
    holder.start()
    assert ready.wait(30)
    started = time.perf_counter()
    with RunLock(tmp_path, blocking=True) as lock:
        assert lock.acquired
    assert time.perf_counter() - started > 0.3
    holder.join()
