// Microsoft Graph application permissions (app roles) for the app's managed identity, the least each
// enabled feature needs. Deploying this needs a Privileged Role Administrator or Global Administrator
// (the deployer grants Graph app roles, which is admin consent).
//
// Turning a feature off later does NOT revoke its permission (deployments are incremental): remove
// the assignment under Enterprise applications > <identity> > Permissions (docs/deploy.md).
extension microsoftGraphV1

@description('Object id of the managed identity\'s service principal.')
param identityPrincipalId string

@description('E-mail notices on: grant Mail.Send.')
param enableEmail bool

@description('Auto-restore or prevention notes on: grant Application.ReadWrite.All.')
param enableApplicationWrite bool

var graphAppId = '00000003-0000-0000-c000-000000000000' // Microsoft Graph

// Microsoft Graph app role ids (application permissions), identical in every tenant.
var graphRoles = {
  applicationReadAll: '9a5d68dd-52b0-4cc2-bd40-abcf44ac3a30' // Application.Read.All
  auditLogReadAll: 'b0afded3-3588-46d8-8b3d-9842eff778da' // AuditLog.Read.All
  mailSend: 'b633e1c5-b582-4048-a93e-9f11b44c7e96' // Mail.Send
  applicationReadWriteAll: '1bfefb4e-e0b5-418b-a88f-73c46d2cc8e9' // Application.ReadWrite.All
  directoryReadAll: '7ab1d382-f21e-4acd-a863-ba3e13f7da61' // Directory.Read.All
}

resource graph 'Microsoft.Graph/servicePrincipals@v1.0' existing = {
  appId: graphAppId
}

// Service principals by appId, their enabled state, the recycle bin and servicePrincipals/delta.
resource applicationRead 'Microsoft.Graph/appRoleAssignedTo@v1.0' = {
  appRoleId: graphRoles.applicationReadAll
  principalId: identityPrincipalId
  resourceId: graph.id
}

// directoryAudits: who deleted or disabled the Webex app, and when (the timer's audit poll and the
// evidence in every notice).
resource auditLogRead 'Microsoft.Graph/appRoleAssignedTo@v1.0' = {
  appRoleId: graphRoles.auditLogReadAll
  principalId: identityPrincipalId
  resourceId: graph.id
}

// sendMail from the configured mailbox. Restrict it to that mailbox with Exchange RBAC for
// Applications (docs/deploy.md): as granted here it could send as any mailbox.
resource mailSend 'Microsoft.Graph/appRoleAssignedTo@v1.0' = if (enableEmail) {
  appRoleId: graphRoles.mailSend
  principalId: identityPrincipalId
  resourceId: graph.id
}

// POST /directory/deletedItems/{id}/restore (auto-restore) and PATCH /servicePrincipals/{id} notes
// (prevention notes) on service principals the app does not own.
resource applicationReadWrite 'Microsoft.Graph/appRoleAssignedTo@v1.0' = if (enableApplicationWrite) {
  appRoleId: graphRoles.applicationReadWriteAll
  principalId: identityPrincipalId
  resourceId: graph.id
}

// Microsoft documents app-only GET auditLogs/directoryAudits as needing AuditLog.Read.All AND
// Directory.Read.All (the timer's audit poll, always on), and Directory.Read.All as the least privilege
// for GET /oauth2PermissionGrants (the admin-consent grant check). Read-only, but broad: it reads the
// whole directory.
resource directoryRead 'Microsoft.Graph/appRoleAssignedTo@v1.0' = {
  appRoleId: graphRoles.directoryReadAll
  principalId: identityPrincipalId
  resourceId: graph.id
}
