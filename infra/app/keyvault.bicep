// Key Vault in RBAC mode for the Webex secrets. The app reads them through Key Vault references in
// its app settings (Key Vault Secrets User on the vault), and writes rotated Webex refresh tokens
// back (Key Vault Secrets Officer on that one secret only, rbac.bicep).

param name string
param location string
param tags object

@description('Purge protection (cannot be turned off again once on).')
param purgeProtection bool = false

@description('Log Analytics workspace for the vault\'s audit events.')
param workspaceId string

@secure()
@description('Optional initial value of the "webex-access-token" secret.')
param webexAccessToken string = ''

@secure()
@description('Optional initial value of the "webex-bot-token" secret.')
param webexBotToken string = ''

@secure()
@description('Optional initial value of the "teams-webhook-url" secret.')
param teamsWebhookUrl string = ''

@secure()
@description('Optional initial value of the "notify-webhook-secret" secret.')
param notifyWebhookSecret string = ''

resource vault 'Microsoft.KeyVault/vaults@2023-07-01' = {
  // checkov:skip=CKV_AZURE_109:The Flex Consumption app has no VNet here: it resolves Key Vault references and writes rotated tokens back over the public endpoint, authorized by Entra RBAC only (no access policies, no keys).
  // checkov:skip=CKV_AZURE_189:Same as CKV_AZURE_109; a private-endpoint variant needs VNet integration of the app.
  // checkov:skip=CKV_AZURE_110:Purge protection is the keyVaultPurgeProtection parameter (off by default): with it on, `azd down --purge` cannot remove the vault and a redeploy under the same name fails for the retention period. The secrets are re-issuable from Control Hub.
  // checkov:skip=CKV_AZURE_42:Soft delete is on (7 days); full recoverability also needs purge protection, see CKV_AZURE_110.
  name: name
  location: location
  tags: tags
  properties: {
    tenantId: tenant().tenantId
    sku: {
      family: 'A'
      name: 'standard'
    }
    enableRbacAuthorization: true
    enableSoftDelete: true
    softDeleteRetentionInDays: 7
    // ARM rejects enablePurgeProtection: false; null leaves it off.
    enablePurgeProtection: purgeProtection ? true : null
    publicNetworkAccess: 'Enabled'
    networkAcls: {
      defaultAction: 'Allow'
      bypass: 'AzureServices'
    }
  }
}

// Created only when a value is given at deployment, so a later `azd provision` without the
// parameter never overwrites a token the app has rotated since.
module accessTokenSecret 'keyvault-secret.bicep' = if (!empty(webexAccessToken)) {
  name: 'secret-webex-access-token'
  params: {
    vaultName: vault.name
    name: 'webex-access-token'
    value: webexAccessToken
  }
}

module botTokenSecret 'keyvault-secret.bicep' = if (!empty(webexBotToken)) {
  name: 'secret-webex-bot-token'
  params: {
    vaultName: vault.name
    name: 'webex-bot-token'
    value: webexBotToken
  }
}

module teamsWebhookSecret 'keyvault-secret.bicep' = if (!empty(teamsWebhookUrl)) {
  name: 'secret-teams-webhook-url'
  params: {
    vaultName: vault.name
    name: 'teams-webhook-url'
    value: teamsWebhookUrl
  }
}

module notifyWebhookKey 'keyvault-secret.bicep' = if (!empty(notifyWebhookSecret)) {
  name: 'secret-notify-webhook-secret'
  params: {
    vaultName: vault.name
    name: 'notify-webhook-secret'
    value: notifyWebhookSecret
  }
}

resource vaultDiagnostics 'Microsoft.Insights/diagnosticSettings@2021-05-01-preview' = {
  name: 'audit-to-log-analytics'
  scope: vault
  properties: {
    workspaceId: workspaceId
    logs: [
      {
        categoryGroup: 'audit'
        enabled: true
      }
    ]
  }
}

output id string = vault.id
output name string = vault.name
output uri string = vault.properties.vaultUri
