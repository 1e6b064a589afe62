// The one identity the app runs as: storage, Key Vault, App Insights, Log Analytics and Graph all
// authorize this user-assigned managed identity (no keys, no connection strings).

@description('Name of the user-assigned managed identity.')
param name string

param location string
param tags object

resource identity 'Microsoft.ManagedIdentity/userAssignedIdentities@2023-01-31' = {
  name: name
  location: location
  tags: tags
}

output id string = identity.id
output name string = identity.name
output principalId string = identity.properties.principalId
output clientId string = identity.properties.clientId
