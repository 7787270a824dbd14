"""The pure parts of the scale-out and many-conversations benchmarks: reading a worker
process's memory and stats, summing the cache over workers, merging step times, the bound."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

# The benchmarks are a package at the top of the checkout, not an installed one.
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from benchmarks.fleet import (
    CacheCount,
    WorkerStats,
    cache_delta,
    serving_worker,
    step_gaps,
    worker_env,
)
from benchmarks.many import CACHE_SHARE, Overhead, memory_bound, per_workflow_bytes
from benchmarks.report import percentile
from benchmarks.worker_process import read_memory, write_atomically

STATUS = """Name:\tpython
Umask:\t0022
State:\tS (sleeping)
VmPeak:\t 1500000 kB
VmHWM:\t  204800 kB
VmRSS:\t  102400 kB
Threads:\t12
"""


def test_read_memory_takes_rss_and_its_peak_in_bytes() -> None:
    assert read_memory(STATUS) == (102400 * 1024, 204800 * 1024)


def test_read_memory_without_the_lines_is_zero() -> None:
    assert read_memory("Name:\tpython\n") == (0, 0)


def test_read_memory_of_this_process() -> None:
    rss, peak = read_memory(Path("/proc/self/status").read_text())
    assert 0 < rss <= peak


def test_write_atomically_replaces_the_file_and_leaves_no_temporary(tmp_path: Path) -> None:
    path = tmp_path / "worker-0.json"
    write_atomically(path, {"hits": 1})
    write_atomically(path, {"hits": 2})
    assert json.loads(path.read_text()) == {"hits": 2}
    assert [p.name for p in tmp_path.iterdir()] == ["worker-0.json"]


def test_stats_parse_ignores_fields_it_does_not_know() -> None:
    stats = WorkerStats.parse(
        json.dumps({"pid": 7, "hits": 3, "misses": 1, "ready": True, "added_later": "x"})
    )
    assert (stats.pid, stats.hits, stats.misses, stats.ready) == (7, 3, 1, True)


def _stats(pid: int, hits: int, misses: int, **fields: object) -> WorkerStats:
    return WorkerStats(pid=pid, hits=hits, misses=misses, **fields)  # type: ignore[arg-type]


def test_cache_delta_sums_the_workers_since_the_first_reading() -> None:
    before = {1: _stats(1, 10, 2), 2: _stats(2, 5, 0)}
    after = {1: _stats(1, 30, 3), 2: _stats(2, 5, 4), 3: _stats(3, 7, 1)}
    # Worker 3 started after the first reading: it counts from zero.
    assert cache_delta(before, after) == CacheCount(20 + 0 + 7, 1 + 4 + 1)
    assert cache_delta(before, after, only=[2]) == CacheCount(0, 4)


def test_cache_delta_leaves_out_a_worker_gone_since() -> None:
    before = {1: _stats(1, 10, 2), 2: _stats(2, 5, 0)}
    after = {2: _stats(2, 6, 1)}  # worker 1 was killed
    assert cache_delta(before, after) == CacheCount(1, 1)


def test_hit_rate() -> None:
    assert CacheCount(95, 5).hit_rate == pytest.approx(0.95)
    assert CacheCount(0, 0).hit_rate is None
    assert CacheCount(1, 2) + CacheCount(3, 4) == CacheCount(4, 6)
    assert CacheCount(3, 1).note() == {
        "transcript_cache_hits": 3,
        "transcript_cache_misses": 1,
        "hit_rate": 0.75,
    }


def test_step_gaps_merge_a_conversation_served_by_several_workers() -> None:
    first = {"a": [0.0, 2.0], "b": [10.0]}
    second = {"a": [1.0, 3.5], "b": [10.5, 11.0]}
    assert sorted(step_gaps([first, second])) == [0.5, 0.5, 1.0, 1.0, 1.5]


def test_step_gaps_of_one_call_are_none() -> None:
    assert step_gaps([{"a": [1.0]}, {}]) == []


def test_percentile_of_the_gaps() -> None:
    gaps = step_gaps([{"a": [float(i) for i in range(101)]}])
    assert percentile(gaps, 50) == 1.0
    assert percentile(gaps, 95) == 1.0


def test_serving_worker_is_the_latest_to_call_for_the_conversation() -> None:
    stats = [
        _stats(1, 0, 0, last_workflow="w", last_call_at=5.0),
        _stats(2, 0, 0, last_workflow="w", last_call_at=7.0),
        _stats(3, 0, 0, last_workflow="other", last_call_at=9.0),
    ]
    found = serving_worker(stats, "w")
    assert found is not None
    assert found.pid == 2
    assert serving_worker(stats, "nobody") is None


def test_worker_env_sets_and_removes(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AGENTIC_LOOP_WORKER_AFFINITY", "1")
    monkeypatch.setenv("PYTHONPATH", "/src")
    env = worker_env({"AGENTIC_LOOP_WORKER_AFFINITY": None, "AGENTIC_LOOP_CACHE_MB": "64"})
    assert "AGENTIC_LOOP_WORKER_AFFINITY" not in env
    assert env["AGENTIC_LOOP_CACHE_MB"] == "64"
    assert env["PYTHONPATH"].split(":")[-1] == "/src"


def test_per_workflow_bytes_leaves_out_the_transcript_cache() -> None:
    idle = _stats(1, 0, 0, rss_bytes=100_000_000, cache_bytes=1_000_000)
    loaded = _stats(1, 0, 0, rss_bytes=300_000_000, cache_bytes=21_000_000)
    assert per_workflow_bytes(idle, loaded, 1000) == pytest.approx(180_000)


def test_memory_bound_is_the_whole_cache_and_the_overhead() -> None:
    overhead = Overhead(idle_rss=80 * 2**20, max_cached_workflows=2000, per_workflow=150_000.0)
    assert overhead.workflow_cache == 300_000_000
    assert overhead.total == 80 * 2**20 + 300_000_000
    assert memory_bound(64 * 2**20, overhead) == round(64 * 2**20 * CACHE_SHARE) + overhead.total


def test_a_negative_calibration_counts_no_workflow_cache() -> None:
    assert Overhead(idle_rss=10, max_cached_workflows=2000, per_workflow=-5.0).total == 10
