// Streams the Entra ID AuditLogs of the whole tenant into the workspace, where the scheduled query
// rule watches for changes to the Webex apps. Tenant scope: the deployer needs Global Administrator
// or Security Administrator in Entra ID and deployment rights at the tenant root (docs/deploy.md).
// Tenants that already stream AuditLogs set enableTenantDiagnosticSetting=false instead.
targetScope = 'tenant'

param name string

@description('Resource id of the Log Analytics workspace.')
param workspaceId string

resource auditLogsToWorkspace 'microsoft.aadiam/diagnosticSettings@2017-04-01' = {
  name: name
  properties: {
    workspaceId: workspaceId
    logs: [
      {
        category: 'AuditLogs'
        enabled: true
      }
    ]
  }
}
