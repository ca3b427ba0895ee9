"""The NovaEnergy code location on Kubernetes: every step of a run in its own k8s Job.

The same assets, checks, jobs, schedules, sensors and env-bound resources as
:mod:`assets_defs.definitions`; only the executor differs. The Helm chart's code server
runs ``dagster api grpc -m deploy.k8s.definitions`` (``deploy/k8s/values.yaml``). Steps
inherit namespace, image, service account, ConfigMap/Secret env and volumes from the
``K8sRunLauncher`` (``deploy/k8s/dagster.yaml``); nothing here reads the environment.
"""

from dagster_k8s import k8s_job_executor

from assets_defs.definitions import build_definitions

#: Step pods one run may have at once (a per-run limit; the run queue limits runs).
MAX_STEP_PODS = 4

#: What each step pod asks of the node. Steps read one day or one month of parquet
#: through polars/DuckDB, so memory dominates; a limit stops one step from starving the rest.
STEP_RESOURCES = {
    "requests": {"cpu": "500m", "memory": "1Gi"},
    "limits": {"cpu": "2", "memory": "4Gi"},
}

k8s_executor = k8s_job_executor.configured(
    {
        "max_concurrent": MAX_STEP_PODS,
        "step_k8s_config": {"container_config": {"resources": STEP_RESOURCES}},
    },
    name="novaenergy_k8s_job_executor",
)

defs = build_definitions(k8s_executor)
