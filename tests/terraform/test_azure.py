"""Terraform for Azure (terraform/azure), read offline and held against the code: the function
app's settings are the settings the functions read, no key reaches them, each role is scoped to
one container, table or queue, and the queues, events and alert routes are the ones the function
app binds."""

from __future__ import annotations

import re

import pytest

from mlops_template.core.chain import chain_steps
from mlops_template.core.settings import Settings

from .conftest import AZURE, ENVS, blocks, first, parse

MODULES = AZURE / "modules"


def resources(module: str) -> dict:
    return blocks(parse(MODULES / module / "main.tf"), "resource")


def module_locals(module: str) -> dict:
    found: dict = {}
    for entry in parse(MODULES / module / "main.tf").get("locals", []):
        found.update(entry)
    return found


@pytest.fixture(scope="module")
def app_settings() -> dict[str, str]:
    return first(module_locals("function_app")["app_settings"])


@pytest.fixture(scope="module")
def functions():
    from mlops_template.tooling.azure_emulation import app_functions

    return app_functions()


# What the function app reads (azure_functions/, core/chain.py, infra/azure): Terraform sets it.
READ_BY_THE_FUNCTIONS = {
    "backend",
    "environment",
    "model_name",
    "serving_stage",
    "capture_sample_rate",
    "auto_promote_stage",
    "code_version",
    "azure_storage_account_name",
    "azure_data_container",
    "azure_artifact_container",
    "azure_registry_table",
    "azure_predictions_table",
    "azure_pipeline_queue_prefix",
    "azure_stream_output_queue",
    "azure_max_dequeue_count",
    "retrain_cooldown_seconds",
    "rollback_window_seconds",
    # The train step's size route (core/chain.py) and the Azure ML job (infra/azure/azureml.py).
    "azureml_subscription_id",
    "azureml_resource_group",
    "azureml_workspace",
    "azureml_compute",
    "training_image_uri",
}


def test_every_mlops_app_setting_is_a_setting(app_settings):
    fields = {f"MLOPS_{name.upper()}" for name in Settings.model_fields}
    ours = {name for name in app_settings if name.startswith("MLOPS_")}
    assert ours <= fields, sorted(ours - fields)


def test_every_setting_the_functions_read_is_set(app_settings):
    missing = {f"MLOPS_{n.upper()}" for n in READ_BY_THE_FUNCTIONS} - set(app_settings)
    assert not missing


def test_no_key_or_connection_string_in_the_app_settings(app_settings):
    assert "MLOPS_AZURE_STORAGE_CONNECTION_STRING" not in app_settings
    assert app_settings["AzureWebJobsStorage__credential"] == "managedidentity"
    assert "AzureWebJobsStorage" not in app_settings  # only its identity-based __ parts
    text = (MODULES / "function_app" / "main.tf").read_text()
    assert not re.search(r"access_key|AccountKey|connection_string\s*=\s*.*storage", text)
    app = resources("function_app")["azurerm_function_app_flex_consumption.main"]
    assert first(app["storage_authentication_type"]) == "SystemAssignedIdentity"
    assert first(app["runtime_name"]) == "python" and first(app["runtime_version"]) == "3.12"
    assert first(first(app["identity"])["type"]) == "SystemAssigned"


def test_the_account_refuses_shared_keys():
    account = resources("storage")["azurerm_storage_account.main"]
    assert first(account["shared_access_key_enabled"]) is False
    assert first(account["min_tls_version"]) == "TLS1_2"


def test_every_role_is_scoped_to_one_container_table_queue_or_the_telemetry():
    scopes = {
        name: first(body["scope"])
        for name, body in resources("function_app").items()
        if name.startswith("azurerm_role_assignment.")
    }
    assert scopes
    allowed = re.compile(
        r"^\$\{var\.storage\.(container_ids|table_ids|queue_ids)\[each\.key\]\}$"
        r"|^\$\{var\.application_insights_id\}$"
    )
    for name, scope in scopes.items():
        assert allowed.match(scope), f"{name}: {scope}"


def test_the_queues_are_the_chain_steps_and_their_poison_queues(app_settings, functions):
    steps = module_locals("storage")["steps"]
    assert "core/pipeline_steps.json" in steps and "remote_training" in steps
    assert "state_machine_only" in steps
    queues = module_locals("storage")["queues"]
    assert "${var.queue_prefix}-${s}" in queues and "${var.queue_prefix}-${s}-poison" in queues
    assert app_settings["MLOPS_AZURE_PIPELINE_QUEUE_PREFIX"] == "${var.storage.queue_prefix}"
    for step in chain_steps():
        for suffix in ("", "_poison"):
            binding = functions[f"pipeline_{step.name}{suffix}"].get_bindings()[0]
            poison = "-poison" if suffix else ""
            assert binding.queue_name == f"%MLOPS_AZURE_PIPELINE_QUEUE_PREFIX%-{step.name}{poison}"
            assert binding.connection == "AzureWebJobsStorage"


def test_blob_events_under_incoming_reach_the_ingest_function(functions):
    subscription = resources("function_app")[
        "azurerm_eventgrid_system_topic_event_subscription.ingest"
    ]
    endpoint = first(subscription["azure_function_endpoint"])
    assert first(endpoint["function_id"]).endswith("/functions/ingest")
    assert "ingest" in functions
    assert functions["ingest"].get_bindings()[0].type == "eventGridTrigger"
    subject = first(subscription["subject_filter"])
    assert "/blobs/incoming/" in first(subject["subject_begins_with"])
    assert first(subscription["included_event_types"]) == "Microsoft.Storage.BlobCreated"


def test_each_alert_calls_a_reaction_function_on_its_route(functions):
    group = resources("monitoring")["azurerm_monitor_action_group.reaction"]
    receiver = first(group["azure_function_receiver"])
    assert first(receiver["use_common_alert_schema"]) is True
    assert first(receiver["http_trigger_url"]).endswith("/api/alerts/${each.key}")
    reactions = set(first(group["for_each"]).removeprefix("${toset(").split('"')[1::2])
    assert reactions == {"retrain", "rollback"}
    for reaction in reactions:
        [trigger] = [b for b in functions[reaction].get_bindings() if b.type == "httpTrigger"]
        assert trigger.route == f"alerts/{reaction}"
    alerts = first(module_locals("monitoring")["alerts"])
    # An alert without a reaction (stale data: a person looks at the feed) is only seen.
    assert {a["reaction"] for a in alerts.values()} - {None} == reactions
    assert {n for n, a in alerts.items() if a["reaction"] is None} == {"data_age"}
    assert {"drift", "accuracy", "errors", "latency", "data_age", "model_data_age"} == set(alerts)


@pytest.mark.parametrize("env", ENVS)
def test_each_environment_has_its_values_and_its_own_state(env):
    values = parse(AZURE / "environment" / f"{env}.tfvars")
    assert values["environment"] == env
    backend = (AZURE / "environment" / f"{env}.azurerm.tfbackend").read_text()
    assert f'key = "{env}/terraform.tfstate"' in backend
