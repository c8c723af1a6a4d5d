"""The load balancer's config holds as many tabs as the benchmarks put behind it."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from tests.e2e.processes import NGINX_DIR

REPO = Path(__file__).resolve().parents[2]

TABS = 1000  # the restart storm's full size: two processes with 500 tabs each, all on one nginx


# the private nginx of scripts/services.sh and the tests, and the one of docker-compose.yaml
MAIN_CONFIGS = ("nginx.conf", "compose-nginx.conf")


def _directive(config: str, name: str) -> int:
    found = re.search(rf"^\s*{name}\s+(\d+);", (NGINX_DIR / config).read_text(), re.MULTILINE)
    assert found is not None, f"{name} is not set in {config}"
    return int(found.group(1))


@pytest.mark.parametrize("config", MAIN_CONFIGS)
def test_nginx_holds_a_thousand_tabs_twice_over(config: str) -> None:
    # a websocket through nginx is two connections: the browser's and the one to the app process
    assert _directive(config, "worker_connections") >= 2 * 2 * TABS
    assert _directive(config, "worker_rlimit_nofile") >= _directive(config, "worker_connections")


def test_the_compose_stack_runs_nginx_with_that_config_and_file_limit() -> None:
    compose = yaml.safe_load((REPO / "docker-compose.yaml").read_text())["services"]["nginx"]
    assert "./scripts/nginx/compose-nginx.conf:/etc/nginx/nginx.conf:ro" in compose["volumes"]
    assert compose["ulimits"]["nofile"] >= _directive("compose-nginx.conf", "worker_rlimit_nofile")


def test_nginx_opens_a_fresh_connection_to_the_app_for_every_request() -> None:
    # a websocket upgraded on a pooled connection was closed 5 s later by uvicorn's keep-alive timer: a restart
    # storm's survivor lost five in six of its own tabs that way (bench storm phase, 200 tabs a process)
    template = (NGINX_DIR / "sinchchat.conf.template").read_text()
    upstream = template[template.index("upstream sinchchat {") :].split("\n}", 1)[0]
    assert not re.search(r"^\s*keepalive\s", upstream, re.MULTILINE)
