#!/bin/sh
# azd postdeploy hook: on the first deployment, provision again with WIRE_TRIGGERS=true so the Event
# Grid subscription (validated against the deployed function), the alert webhook (which carries the
# alert function's key) and the Graph app-role grants (to an identity that now exists for minutes,
# not seconds: Entra replication) are created. A no-op once wired.
# A failed pass is retried twice, 60 s apart (replication and function indexing settle on their own),
# so the first `azd up` needs no human rerun.
set -eu
if [ "${WIRE_TRIGGERS:-false}" = "true" ]; then
  exit 0
fi
echo "Code deployed: wiring the Event Grid subscription, the alert webhook and the Graph permissions..."
azd env set WIRE_TRIGGERS true
attempt=1
until azd provision --no-prompt; do
  if [ "$attempt" -ge 3 ]; then
    echo "Wiring failed $attempt times. Fix the error above, then run: azd provision" >&2
    exit 1
  fi
  echo "Wiring attempt $attempt failed; retrying in 60 s (Entra replication, function indexing)..." >&2
  attempt=$((attempt + 1))
  sleep 60
done
