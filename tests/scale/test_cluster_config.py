"""The cluster configuration in deploy/k8s/: the instance, the run launcher, the code
location with the Kubernetes job executor, and the Helm values. No cluster is contacted."""

import importlib
import shutil
from pathlib import Path

import dagster as dg
import pytest
import yaml
from dagster._core.errors import DagsterInvalidConfigError
from dagster._core.instance.config import dagster_instance_config
from dagster._core.run_coordinator import QueuedRunCoordinator
from dagster._serdes import ConfigurableClassData
from dagster_k8s import K8sRunLauncher, k8s_job_executor

ROOT = Path(__file__).resolve().parents[2]
K8S = ROOT / "deploy" / "k8s"
SECRETS = ["novaenergy-secrets"]
CONFIG_MAPS = ["novaenergy-env"]
# what the code location reads from the environment when a run starts (never at import)
ENV_NAMES = ("NOVAENERGY_LAKE_ROOT", "SITE_ID", "ENTSOE_API_KEY", "GO_LEDGER_PATH")


def instance_yaml() -> dict:
    return yaml.safe_load((K8S / "dagster.yaml").read_text())


def helm_values() -> dict:
    return yaml.safe_load((K8S / "values.yaml").read_text())


def configurable(section: dict, config: dict | None = None) -> ConfigurableClassData:
    return ConfigurableClassData(
        section["module"], section["class"], yaml.safe_dump(config or section["config"])
    )


# --- the instance -----------------------------------------------------------------------


def test_instance_yaml_validates_against_dagsters_schema(tmp_path, monkeypatch):
    # the Postgres password is an env reference, resolved only by a process that connects
    monkeypatch.delenv("DAGSTER_PG_PASSWORD", raising=False)
    shutil.copy(K8S / "dagster.yaml", tmp_path / "dagster.yaml")

    config, custom_instance_class = dagster_instance_config(str(tmp_path))

    assert custom_instance_class is None
    assert config["telemetry"] == {"enabled": False}
    assert (config["run_launcher"]["module"], config["run_launcher"]["class"]) == (
        "dagster_k8s",
        "K8sRunLauncher",
    )
    assert config["run_coordinator"]["class"] == "QueuedRunCoordinator"
    # storage: the postgres shape (dagster-postgres itself is not installed here)
    assert set(config["storage"]) == {"postgres"}
    db = config["storage"]["postgres"]["postgres_db"]
    assert {"hostname", "username", "password", "db_name", "port"} <= set(db)
    assert db["password"] == {"env": "DAGSTER_PG_PASSWORD"}  # never a literal password


def test_the_instance_schema_check_is_not_a_formality(tmp_path):
    broken = instance_yaml()
    broken["storage"]["postgres"]["postgres_db"]["pasword"] = "typo"
    (tmp_path / "dagster.yaml").write_text(yaml.safe_dump(broken))
    with pytest.raises(DagsterInvalidConfigError):
        dagster_instance_config(str(tmp_path))


def test_run_queue_limits_backfills_and_the_go_ledger_per_zone():
    # The instance schema takes any dict as a class's config: check it against the class.
    coordinator = configurable(instance_yaml()["run_coordinator"]).rehydrate(
        as_type=QueuedRunCoordinator
    )
    limits = {
        limit["key"]: limit for limit in coordinator.get_run_queue_config().tag_concurrency_limits
    }

    assert coordinator.get_run_queue_config().max_concurrent_runs == 8
    backfill = limits["dagster/backfill"]
    assert backfill.get("value") is None  # across all backfills, not per backfill id
    assert 0 < backfill["limit"] < coordinator.get_run_queue_config().max_concurrent_runs
    ledger = limits["novaenergy/go_ledger_zone"]
    assert ledger["value"] == {"applyLimitPerUniqueValue": True}
    assert ledger["limit"] == 1


# --- the run launcher -------------------------------------------------------------------

KUBECONFIG = """\
apiVersion: v1
kind: Config
clusters:
  - name: throwaway
    cluster: {server: "https://127.0.0.1:6443", insecure-skip-tls-verify: true}
users:
  - name: throwaway
    user: {token: not-a-real-token}
contexts:
  - name: throwaway
    context: {cluster: throwaway, user: throwaway, namespace: novaenergy}
current-context: throwaway
"""


@pytest.fixture
def launcher(tmp_path) -> K8sRunLauncher:
    section = instance_yaml()["run_launcher"]
    assert section["config"]["load_incluster_config"] is True  # what the cluster runs
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(KUBECONFIG)
    config = {
        **section["config"],
        "load_incluster_config": False,
        "kubeconfig_file": str(kubeconfig),
    }
    return configurable(section, config).rehydrate(as_type=K8sRunLauncher)


def test_run_launcher_is_built_from_the_instance_yaml(launcher):
    import kubernetes

    assert launcher.job_namespace == "novaenergy"
    assert launcher.env_secrets == SECRETS
    assert launcher.env_config_maps == CONFIG_MAPS
    assert launcher.service_account_name == "novaenergy-runs"
    assert launcher.image_pull_policy == "IfNotPresent"
    assert launcher.fail_pod_on_run_failure is True
    # the throwaway kubeconfig was loaded, not the in-cluster config; nothing was contacted
    assert kubernetes.client.Configuration.get_default_copy().host == "https://127.0.0.1:6443"


def test_run_pods_get_the_secret_config_map_and_state_volume(launcher):
    # what the launcher puts on a run's pod (and the k8s job executor on each step's pod)
    run = dg.DagsterRun(job_name="land_and_compute_day_job", run_id="0" * 32)
    context = launcher.get_container_context_for_run(run)
    pod = context.run_k8s_config.to_dict()

    assert context.namespace == "novaenergy"
    assert pod["container_config"]["env_from"] == [
        *({"config_map_ref": {"name": name}} for name in CONFIG_MAPS),
        *({"secret_ref": {"name": name}} for name in SECRETS),
    ]
    assert pod["pod_spec_config"]["service_account_name"] == "novaenergy-runs"
    assert [
        v["persistent_volume_claim"]["claim_name"] for v in pod["pod_spec_config"]["volumes"]
    ] == ["novaenergy-state"]
    assert [m["mount_path"] for m in pod["container_config"]["volume_mounts"]] == ["/data/state"]


# --- the code location with the k8s job executor ----------------------------------------


def test_k8s_code_location_matches_the_default_one_but_for_the_executor():
    from assets_defs.definitions import defs as default_defs
    from deploy.k8s.definitions import defs

    dg.Definitions.validate_loadable(defs)
    repo, default = defs.get_repository_def(), default_defs.get_repository_def()

    assert repo.asset_graph.get_all_asset_keys() == default.asset_graph.get_all_asset_keys()
    assert repo.asset_graph.asset_check_keys == default.asset_graph.asset_check_keys
    assert {s.name for s in repo.schedule_defs} == {s.name for s in default.schedule_defs}
    assert {s.name for s in repo.sensor_defs} == {s.name for s in default.sensor_defs}
    assert {j.name for j in repo.get_all_jobs()} == {j.name for j in default.get_all_jobs()}
    assert len(repo.asset_graph.get_all_asset_keys()) > 20

    for job in repo.get_all_jobs():
        executor = job.executor_def
        assert executor.executor_creation_fn is k8s_job_executor.executor_creation_fn, job.name
    for job in default.get_all_jobs():
        assert job.executor_def is dg.multi_or_in_process_executor, job.name


def test_k8s_executor_limits_step_pods_and_requests_resources():
    from deploy.k8s.definitions import defs

    executor = defs.resolve_job_def("land_and_compute_day_job").executor_def
    resolved = executor.config_schema.resolve_config({})
    assert resolved.success, resolved.errors
    config = resolved.value["config"]
    assert config["max_concurrent"] == 4
    resources = config["step_k8s_config"]["container_config"]["resources"]
    assert set(resources["requests"]) == {"cpu", "memory"}
    assert set(resources["limits"]) == {"cpu", "memory"}


def test_no_env_var_is_read_when_the_k8s_location_is_imported(monkeypatch):
    for name in ENV_NAMES:
        monkeypatch.delenv(name, raising=False)
    import deploy.k8s.definitions as module

    assert isinstance(importlib.reload(module).defs, dg.Definitions)


# --- the Helm values --------------------------------------------------------------------


def test_helm_values_point_the_user_deployment_at_the_k8s_location():
    values = helm_values()
    deployments = values["dagster-user-deployments"]["deployments"]
    assert [d["name"] for d in deployments] == ["novaenergy"]
    deployment = deployments[0]
    assert deployment["dagsterApiGrpcArgs"] == ["-m", "deploy.k8s.definitions"]
    assert deployment["port"] == 3030
    assert {"repository", "tag", "pullPolicy"} <= set(deployment["image"])
    module = importlib.import_module(deployment["dagsterApiGrpcArgs"][1])
    assert isinstance(module.defs, dg.Definitions)
    assert [c["name"] for c in deployment["envConfigMaps"]] == CONFIG_MAPS
    assert [s["name"] for s in deployment["envSecrets"]] == SECRETS


def test_helm_values_and_instance_yaml_agree():
    values, instance = helm_values(), instance_yaml()
    launcher = instance["run_launcher"]["config"]
    assert values["runLauncher"]["type"] == "K8sRunLauncher"
    k8s = values["runLauncher"]["config"]["k8sRunLauncher"]
    assert k8s["jobNamespace"] == launcher["job_namespace"]
    assert k8s["imagePullPolicy"] == launcher["image_pull_policy"]
    assert k8s["loadInclusterConfig"] is launcher["load_incluster_config"]
    assert [c["name"] for c in k8s["envConfigMaps"]] == launcher["env_config_maps"]
    assert [s["name"] for s in k8s["envSecrets"]] == launcher["env_secrets"]
    assert k8s["volumes"] == launcher["volumes"]
    assert k8s["volumeMounts"] == launcher["volume_mounts"]
    assert values["serviceAccount"]["name"] == launcher["service_account_name"]

    coordinator = values["dagsterDaemon"]["runCoordinator"]
    assert coordinator["enabled"] is True
    assert coordinator["type"] == "QueuedRunCoordinator"
    queued = coordinator["config"]["queuedRunCoordinator"]
    expected = instance["run_coordinator"]["config"]
    assert queued["maxConcurrentRuns"] == expected["max_concurrent_runs"]
    assert queued["tagConcurrencyLimits"] == expected["tag_concurrency_limits"]
    assert values["telemetry"] == instance["telemetry"] == {"enabled": False}
