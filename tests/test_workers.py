"""Forked workers: same results as a plain loop, in order; failures surface; nothing left behind."""

import os

import pytest
from support import GOLDEN, ROOT, files_of, slo

from compiler.pipeline import workers


def no_children_left() -> bool:
    try:
        os.waitpid(-1, os.WNOHANG)
    except ChildProcessError:
        return True
    return False


@pytest.mark.parametrize("jobs", [1, 2, 3, 7])
def test_results_come_back_in_input_order_whatever_the_number_of_workers(jobs):
    items = list(range(23))
    assert workers.map_forked(lambda n: (n, os.getpid()), items, jobs, min_share=1)[5][0] == 5
    assert [
        r[0] for r in workers.map_forked(lambda n: (n, os.getpid()), items, jobs, min_share=1)
    ] == items
    pids = {
        pid for _, pid in workers.map_forked(lambda n: (n, os.getpid()), items, jobs, min_share=1)
    }
    assert len(pids) == min(jobs, len(items))  # really that many processes
    assert no_children_left()


def test_too_few_items_per_worker_run_in_this_process():
    pids = workers.map_forked(lambda _: os.getpid(), [1, 2, 3], jobs=4, min_share=2)
    assert set(pids) == {os.getpid()}


def test_a_failing_worker_raises_with_its_traceback_and_leaves_no_process():
    def explode(n):
        if n == 7:
            raise ValueError("item seven is bad")
        return n

    with pytest.raises(workers.WorkerError, match=r"(?s)ValueError: item seven is bad"):
        workers.map_forked(
            explode, list(range(10)), jobs=2, min_share=1
        )  # 7 is in the child's share
    assert no_children_left()


def test_a_failure_in_this_process_stops_the_workers():
    parent = os.getpid()

    def explode_here(n):
        if os.getpid() == parent:
            raise KeyError(n)
        return n

    with pytest.raises(KeyError):
        workers.map_forked(explode_here, list(range(10)), jobs=3, min_share=1)
    assert no_children_left()


@pytest.mark.parametrize(
    "specs", [ROOT / "slo", GOLDEN / "routing" / "slo"], ids=["slo", "golden-routing"]
)
def test_compile_writes_the_same_bytes_with_one_or_many_processes(tmp_path, specs):
    trees = {}
    for jobs in ("1", "4"):
        out = tmp_path / f"out-{jobs}"
        result = slo("compile", specs, "--out", out, "--cache-dir", "", "-j", jobs)
        assert result.exit_code == 0, result.output
        trees[jobs] = files_of(out)
    assert trees["1"] == trees["4"] and len(trees["1"]) > 5


def test_workers_may_send_results_their_caller_pickled_already():
    import pickle

    items = list(range(9))
    made = workers.map_forked(
        lambda n: {"n": n},
        items,
        3,
        min_share=1,
        pickled=lambda n: pickle.dumps({"n": n, "sent": "pickled"}),
    )
    assert [m["n"] for m in made] == items
    assert (
        sum(m.get("sent") == "pickled" for m in made) == 6
    )  # the workers' two shares; this process calls the function
