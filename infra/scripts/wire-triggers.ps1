# azd postdeploy hook (Windows): see wire-triggers.sh.
$ErrorActionPreference = 'Stop'
if ($env:WIRE_TRIGGERS -eq 'true') { exit 0 }
Write-Host 'Code deployed: wiring the Event Grid subscription and the Azure Monitor alert webhook...'
azd env set WIRE_TRIGGERS true
azd provision --no-prompt
if ($LASTEXITCODE -ne 0) {
  Write-Error 'Wiring failed. Fix the error above, then run: azd provision'
  exit 1
}
