"""The write path's profile attribution: each sample to the innermost frame of a known area, shown per message."""

from __future__ import annotations

from bench.writepath import profile_areas
from bench.writepath_report import comparison

_HTTP = "HTTP (chat/storage/http.py or urllib3 / http.client) and sockets"
_BOTOCORE = "botocore / boto3 (request building, signing, parsing)"
_RAW = "\n".join(
    [
        "Thread._bootstrap (threading.py:1002);_api_call (botocore/client.py:606);send (chat/storage/http.py:9) 3",
        "Thread._bootstrap (threading.py:1002);_api_call (botocore/client.py:606);emit (botocore/hooks.py:412) 5",
        "run (asyncio/runners.py:190);ChatService.post (chat/service.py:219) 2",
    ]
)


def test_the_transport_counts_as_http_not_as_the_product() -> None:
    assert profile_areas(_RAW) == {_BOTOCORE: 0.5, _HTTP: 0.3, "chat (the product)": 0.2}


def test_the_report_shows_each_areas_milliseconds_per_message_on_both_transports() -> None:
    def profiled(cpu: float) -> dict[str, object]:
        return {"what": "", "messages_per_second": 100.0, "process_cpu_ms_per_msg": cpu, "shares": profile_areas(_RAW)}

    lines = comparison({"profile_areas": {"lean": profiled(2.0), "botocore_http": profiled(4.0)}})
    assert f"| {_HTTP} | 30% | 1.20 | 30% | 0.60 |" in lines
    assert lines[-1].endswith("| 100% | 4.00 | 100% | 2.00 |")
