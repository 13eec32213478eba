"""Shared fixtures: one real LocalCluster (a scheduler and two Python worker processes)
and a client for the whole session; hypothesis settings sized for a quick suite."""

import os

import pytest
from hypothesis import HealthCheck, settings

import tessera as ts

# No progress bars in tests (test_diagnostics turns them on where it checks them).
os.environ["TESSERA_PROGRESS"] = "0"

settings.register_profile(
    "tessera",
    max_examples=int(os.environ.get("TESSERA_HYPOTHESIS_EXAMPLES", "25")),
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
settings.load_profile("tessera")


@pytest.fixture(scope="session")
def cluster():
    """A LocalCluster of two single-threaded workers."""
    with ts.LocalCluster(n_workers=2, threads_per_worker=1, memory_limit="1GiB") as c:
        yield c


@pytest.fixture(scope="session")
def client(cluster):
    """A client of the session cluster, current for every test that asks for it."""
    with ts.Client(cluster) as c:
        yield c
