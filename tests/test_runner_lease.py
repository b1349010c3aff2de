"""One runner per deployment: others are refused while the holder renews; they take over when it dies."""

from __future__ import annotations

from openlfr.api.supervisor import DeploymentSupervisor
from openlfr.demo.service import prepare_demo
from openlfr.governance import runner_lease as lease


def test_a_fresh_lease_refuses_others_and_an_expired_one_passes_on(gov, clock) -> None:  # type: ignore[no-untyped-def]
    service, cluster = lease.runner_name("service"), lease.runner_name("cluster")
    assert service != lease.runner_name("service")
    assert lease.claim(gov, "d1", service, ttl=15) is None
    assert lease.claim(gov, "d1", cluster, ttl=15) == service
    clock.advance(seconds=10)
    assert lease.claim(gov, "d1", service, ttl=15) is None  # renewed: fresh for another 15 s
    clock.advance(seconds=10)
    assert lease.claim(gov, "d1", cluster, ttl=15) == service
    assert lease.claim(gov, "d2", cluster, ttl=15) is None  # other deployments are free
    clock.advance(seconds=16)  # the service stopped renewing: it is gone
    assert lease.holder(gov, "d1") is None
    assert lease.claim(gov, "d1", cluster, ttl=15) is None
    assert lease.claim(gov, "d1", service, ttl=15) == cluster
    lease.release(gov, "d1", service)  # only the holder can release
    assert lease.holder(gov, "d1") == cluster
    lease.release(gov, "d1", cluster)
    assert lease.holder(gov, "d1") is None


def test_the_service_does_not_run_a_deployment_that_runs_elsewhere(gov, tmp_path) -> None:  # type: ignore[no-untyped-def]
    setup = prepare_demo(gov, tmp_path / "demo")
    elsewhere = lease.runner_name("cluster")
    assert lease.claim(gov, setup.deployment_id, elsewhere) is None
    supervisor = DeploymentSupervisor(gov, interval=0.5)
    supervisor.tick()
    assert setup.deployment_id not in supervisor.running
    assert elsewhere in supervisor.refusals[setup.deployment_id]
    assert lease.holder(gov, setup.deployment_id) == elsewhere  # the refusal left the lease alone
