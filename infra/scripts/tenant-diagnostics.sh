#!/bin/sh
# Optional step, run by hand after `azd up`: the Entra (tenant) diagnostic setting that streams
# AuditLogs into the deployment's Log Analytics workspace, for the 5-15-minute alert path. Without it
# the health timer's audit poll is the detection path (every tick).
#
#   infra/scripts/tenant-diagnostics.sh create    # or: delete, show
#
# Right it needs: an Entra role that may write microsoft.aadiam/diagnosticSettings (Security
# Administrator or Global Administrator) and, on the workspace, what a subscription Owner or
# Contributor has. It is ONE ARM call at the tenant provider (no tenant-scope deployment), so it
# needs no rights at "/" and no elevated access. `azd down` does not remove it: run `delete` before
# `azd down` (or remove it in Entra admin center > Monitoring & health > Diagnostic settings).
# Uses the Azure CLI (`az login` as that administrator) and the deployment outputs azd stored for the
# environment (the workspace's resource id and the setting's name).
set -eu
action="${1:-create}"
workspace_id="$(azd env get-value LOG_ANALYTICS_WORKSPACE_RESOURCE_ID)"
name="$(azd env get-value TENANT_DIAGNOSTIC_SETTING_NAME)"
arm="$(az cloud show --query endpoints.resourceManager -o tsv)"
url="${arm%/}/providers/microsoft.aadiam/diagnosticSettings/${name}?api-version=2017-04-01"
case "$action" in
  create)
    body=$(printf '{"properties":{"workspaceId":"%s","logs":[{"category":"AuditLogs","enabled":true}]}}' "$workspace_id")
    az rest --method put --url "$url" --body "$body" >/dev/null
    echo "Created tenant diagnostic setting $name -> $workspace_id"
    ;;
  delete)
    az rest --method delete --url "$url" >/dev/null
    echo "Deleted tenant diagnostic setting $name"
    ;;
  show)
    az rest --method get --url "$url"
    ;;
  *)
    echo "usage: $0 create|delete|show" >&2
    exit 2
    ;;
esac
