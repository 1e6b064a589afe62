"""The Functions app: one ``FunctionApp``, one blueprint per trigger. Nothing heavy is imported here
(msgraph-sdk, azure-monitor-query and the storage SDKs load on first use) so cold start stays fast."""

import azure.functions as func

from functions.actions import bp as actions_bp
from functions.alerts import bp as alerts_bp
from functions.eventgrid import bp as eventgrid_bp
from functions.health import bp as health_bp
from functions.intake import bp as intake_bp
from functions.poison import bp as poison_bp
from functions.status import bp as status_bp
from functions.tenant_sweep import bp as tenant_sweep_bp
from functions.verify import bp as verify_bp
from shared.core.sdklogs import configure_sdk_logging
from shared.core.telemetry import configure as configure_telemetry

configure_sdk_logging()  # SDK loggers at WARNING unless SDK_LOG_LEVEL says otherwise (the worker's root is INFO)
configure_telemetry()  # incident fields on every log record; App Insights export only in Azure

app = func.FunctionApp(http_auth_level=func.AuthLevel.FUNCTION)
for blueprint in (eventgrid_bp, alerts_bp, intake_bp, health_bp, verify_bp, poison_bp, actions_bp, status_bp,
                  tenant_sweep_bp):  # fmt: skip
    app.register_functions(blueprint)
