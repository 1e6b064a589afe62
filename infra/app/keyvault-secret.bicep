// One Key Vault secret, set from a secure parameter (never from a literal in a template).

param vaultName string

@description('Secret name, as the app settings reference it.')
param name string

@secure()
param value string

resource vault 'Microsoft.KeyVault/vaults@2023-07-01' existing = {
  name: vaultName
}

resource secret 'Microsoft.KeyVault/vaults/secrets@2023-07-01' = {
  // checkov:skip=CKV_AZURE_41:Webex sets the token lifetimes (service-app tokens are refreshed and written back by the app; bot tokens do not expire); a Key Vault expiry would only break the app.
  parent: vault
  name: name
  properties: {
    value: value
    contentType: 'text/plain'
  }
}
