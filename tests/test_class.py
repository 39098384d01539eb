"""A class at once on one public app (the small version of ``python -m lab bench --what class``): ten students,
each its own visitor through ``gradio_client``, chat three turns and rate every answer while four of them press
Train; one presses it three times. Nothing is lost, nobody gets an error page, the queue's caps answer with their
message, and the queue is empty once the trainers stopped their runs."""

from __future__ import annotations

from lab.bench_class import bench_class


def test_ten_students_chat_rate_and_train_at_once(fresh_home, tiny_model):
    out = bench_class(students=10, turns=3, chat_model="tiny", train_model="tiny", bursts=(10,), home=fresh_home,
                      time_limit_s=240, tokens=32)  # fmt: skip
    assert out["errors"] == [] and out["bursts"][0]["errors"] == []
    assert out["bursts"][0]["first_token_s"]["n"] == 10  # every student of the burst saw the model's first token
    assert out["ratings"] == {"stored": 30, "sent": 30, "per_student": [3], "students_with_ratings": 10,
                              "distinct": 30}  # fmt: skip
    presses = out["train_presses"]
    assert presses["other"] == [] and presses["started_or_queued"] + presses["refused_by_a_cap"] == 6
    assert presses["refused_by_a_cap"] >= 1 and presses["started_or_queued"] >= 4  # every trainer got a run
    assert out["refusals"] and all("the cap is 1 per visitor" in message for message in out["refusals"])
    assert out["queue_cleared"]
