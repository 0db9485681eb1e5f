"""The relay benchmark compares only what it may: no ratio when a message was lost or
reordered on either side, medians over alternating runs otherwise."""

from __future__ import annotations

from bench.bench_relay import compare

KEYS = ("relay_cpu_us_per_msg", "msgs_per_s", "p99_ms")


def run(cpu: float, rate: float, p99: float, lost: int = 0, out_of_order: int = 0) -> dict:
    return {"relay_cpu_us_per_msg": cpu, "msgs_per_s": rate, "p99_ms": p99, "lost": lost,
            "out_of_order": out_of_order}


def test_ratio_of_medians_when_every_run_is_clean():
    records = {"ours": [run(50, 900, 9), run(40, 1000, 8), run(60, 800, 30)],
               "node": [run(100, 500, 20), run(80, 400, 10), run(90, 600, 15)]}
    result = compare(records, KEYS)
    assert result["median"]["ours"]["relay_cpu_us_per_msg"] == 50
    assert result["median"]["node"]["msgs_per_s_range"] == [400, 600]
    assert result["ratio"] == {"relay_cpu_us_per_msg": round(50 / 90, 2),
                               "msgs_per_s": round(900 / 500, 2), "p99_ms": round(9 / 15, 2)}
    assert "ratio_refused" not in result


def test_no_ratio_when_one_side_lost_or_reordered_a_message():
    clean = [run(50, 900, 9)] * 3
    for flawed, words in ((run(10, 2000, 1, lost=3), "node run 2: 3 lost messages"),
                          (run(10, 2000, 1, out_of_order=1), "node run 2: 1 out-of-order")):
        result = compare({"ours": clean, "node": [run(50, 900, 9), flawed, run(50, 900, 9)]},
                         KEYS)
        assert result["ratio"] is None
        assert result["ratio_refused"].startswith(words), result["ratio_refused"]
        assert result["median"]["node"]["runs"] == 3  # the figures stay, for the record
