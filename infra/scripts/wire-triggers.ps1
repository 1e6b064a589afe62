# azd postdeploy hook (Windows): see wire-triggers.sh (same steps, same retries).
$ErrorActionPreference = 'Stop'
if ($env:WIRE_TRIGGERS -eq 'true') { exit 0 }
Write-Host 'Code deployed: wiring the Event Grid subscription, the alert webhook and the Graph permissions...'
azd env set WIRE_TRIGGERS true
for ($attempt = 1; $attempt -le 3; $attempt++) {
  azd provision --no-prompt
  if ($LASTEXITCODE -eq 0) { exit 0 }
  if ($attempt -lt 3) {
    Write-Warning "Wiring attempt $attempt failed; retrying in 60 s (Entra replication, function indexing)..."
    Start-Sleep -Seconds 60
  }
}
Write-Error 'Wiring failed 3 times. Fix the error above, then run: azd provision'
exit 1
