#!/bin/sh
# azd postdeploy hook: on the first deployment, provision again with WIRE_TRIGGERS=true so the Event
# Grid subscription (validated against the deployed function) and the alert webhook (which carries
# the function key) are created. A no-op once wired.
set -eu
if [ "${WIRE_TRIGGERS:-false}" = "true" ]; then
  exit 0
fi
echo "Code deployed: wiring the Event Grid subscription and the Azure Monitor alert webhook..."
azd env set WIRE_TRIGGERS true
if ! azd provision --no-prompt; then
  echo "Wiring failed. Fix the error above, then run: azd provision" >&2
  exit 1
fi
