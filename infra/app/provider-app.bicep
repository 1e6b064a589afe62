// Provider mode (TENANCY_MODE=provider, docs/tenants.md): the provider's multi-tenant app registration,
// created with the Microsoft Graph Bicep extension. Its only credential is a federated identity
// credential whose subject is the deployment's user-assigned managed identity: the app asks for the
// identity's token (audience api://AzureADTokenExchange), presents it as the client assertion, and
// gets a Graph token in every customer tenant that granted admin consent to this app. No secret,
// no certificate.
//
// Deploying this needs an Entra role that may create applications and their credentials
// (Application Developer, Application Administrator or Cloud Application Administrator, or owning
// the app on later runs). It grants nothing by itself: each customer's admin grants the permissions
// below in their own tenant through the admin-consent URL (`python -m shared.cli tenants onboard`).
extension microsoftGraphV1

@description('Key of the app registration in the tenant (Graph\'s uniqueName; stays the same across provisions).')
param uniqueName string

@description('Name customers see on the consent prompt and under Enterprise applications.')
param displayName string

@description('Object (principal) id of the user-assigned managed identity the app trusts.')
param identityPrincipalId string

@description('Audience of the managed identity\'s token in this cloud (api://AzureADTokenExchange in the public cloud).')
param tokenExchangeAudience string

@description('Auto-restore or prevention notes on: customers are also asked for Application.ReadWrite.All.')
param enableApplicationWrite bool

var graphAppId = '00000003-0000-0000-c000-000000000000' // Microsoft Graph

// Microsoft Graph app role ids (application permissions), identical in every tenant: the same set
// graph-permissions.bicep grants the identity in the deployment's own tenant, less Mail.Send (the
// notices are sent from the provider's mailbox, in the provider's tenant, by the identity itself).
var graphRoles = {
  applicationReadAll: '9a5d68dd-52b0-4cc2-bd40-abcf44ac3a30' // Application.Read.All
  auditLogReadAll: 'b0afded3-3588-46d8-8b3d-9842eff778da' // AuditLog.Read.All
  directoryReadAll: '7ab1d382-f21e-4acd-a863-ba3e13f7da61' // Directory.Read.All
  applicationReadWriteAll: '1bfefb4e-e0b5-418b-a88f-73c46d2cc8e9' // Application.ReadWrite.All
}
var readRoles = [
  { id: graphRoles.applicationReadAll, type: 'Role' }
  { id: graphRoles.auditLogReadAll, type: 'Role' }
  { id: graphRoles.directoryReadAll, type: 'Role' }
]
var writeRoles = enableApplicationWrite ? [{ id: graphRoles.applicationReadWriteAll, type: 'Role' }] : []

// The managed identity's tokens are issued by the deployment's own tenant.
var issuer = '${environment().authentication.loginEndpoint}${tenant().tenantId}/v2.0'

resource providerApp 'Microsoft.Graph/applications@v1.0' = {
  uniqueName: uniqueName
  displayName: displayName
  signInAudience: 'AzureADMultipleOrgs'
  // What the admin-consent URL asks each customer's admin to grant (application permissions).
  requiredResourceAccess: [
    {
      resourceAppId: graphAppId
      resourceAccess: concat(readRoles, writeRoles)
    }
  ]
}

// Graph keys a child by its parent's uniqueName: '<uniqueName>/<name>'.
resource managedIdentityCredential 'Microsoft.Graph/applications/federatedIdentityCredentials@v1.0' = {
  name: '${providerApp.uniqueName}/deployment-managed-identity'
  description: 'The deployment\'s user-assigned managed identity is this app\'s only credential.'
  issuer: issuer
  subject: identityPrincipalId
  audiences: [
    tokenExchangeAudience
  ]
}

output appId string = providerApp.appId
output uniqueName string = providerApp.uniqueName
