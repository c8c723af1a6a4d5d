"""A process that dies takes its people off the Online list of the other processes' tabs within 30 s: nobody is left
to say they went, so their entries expire when the dead process's heartbeat stops."""

from __future__ import annotations

import signal
import time
from collections.abc import Callable

import pytest
from playwright.sync_api import Page, expect

from .chat_page import join
from .conftest import Deployment
from .processes import AppProcess
from .test_cluster import Cluster
from .test_presence import online_names
from .test_rooms import cluster, person_on, routes  # noqa: F401 (the same deployment's fixtures)

pytestmark = pytest.mark.e2e

GONE_WITHIN = 30.0


def test_the_people_of_a_killed_process_leave_the_online_list_within_30_seconds(
    deployment: Deployment,
    cluster: Cluster,  # noqa: F811
    person_on: Callable[[AppProcess], Page],  # noqa: F811
    record_property: Callable[[str, object], None],
) -> None:
    hal = person_on(cluster.a)
    join(hal, "Hal")
    ivy = person_on(cluster.b)
    join(ivy, "Ivy")
    expect(online_names(hal)).to_have_text(["Hal", "Ivy"], timeout=3000)
    # Ivy's browser cannot come back through the survivor: she is gone with her process
    ivy.context.set_offline(True)
    cluster.b.stop(signal.SIGKILL, check=False)
    deployment.apps.remove(cluster.b)  # it had no shutdown to check
    killed = time.monotonic()
    time.sleep(5)
    expect(online_names(hal)).to_have_text(["Hal", "Ivy"])  # not a clean leave: nothing told anyone
    expect(online_names(hal)).to_have_text(["Hal"], timeout=GONE_WITHIN * 1000)
    record_property("gone_seconds", round(time.monotonic() - killed, 1))
