import pytest

from icml22dl.runner.executors import map_tasks


def square(x: int) -> int:
    return x * x


@pytest.mark.parametrize("executor", ["serial", "process"])
def test_executors_compute_every_task(executor):
    assert sorted(map_tasks(square, [1, 2, 3], executor, workers=2)) == [1, 4, 9]


def test_unknown_executor_is_rejected():
    with pytest.raises(ValueError, match="executor='slurmish' is unknown"):
        list(map_tasks(square, [1], "slurmish"))
