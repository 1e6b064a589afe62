// Custom topic for audit events pushed by forwarders (another tenant's relay, a Logic App, a test
// post). Publishers authenticate with Entra ID (EventGrid Data Sender); access keys are off.

param name string
param location string
param tags object

@description('Resource id of the user-assigned identity the topic dead-letters with.')
param identityId string

resource topic 'Microsoft.EventGrid/topics@2022-06-15' = {
  // checkov:skip=CKV_AZURE_193:Publishers are forwarders outside this network (other tenants' relays, Logic Apps); local auth is off, so only Entra principals with EventGrid Data Sender can publish.
  name: name
  location: location
  tags: tags
  identity: {
    type: 'UserAssigned'
    userAssignedIdentities: {
      '${identityId}': {}
    }
  }
  properties: {
    inputSchema: 'EventGridSchema'
    disableLocalAuth: true
    publicNetworkAccess: 'Enabled'
  }
}

output id string = topic.id
output name string = topic.name
output endpoint string = topic.properties.endpoint
