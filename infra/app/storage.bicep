// Storage for the Functions host (Flex deployment package, leases), the intake and verification
// queues and their poison queues, the incidents table (provider mode: the tenants table and the sweep queue) and the Event Grid dead-letter container. Shared keys are off:
// every client (host, app, Event Grid dead-lettering) authenticates with Entra ID.

param name string
param location string
param tags object

@description('Log Analytics workspace that receives the queue write logs (the poison-queue alert reads them).')
param workspaceId string

@description('Provider mode (TENANCY_MODE=provider): also the tenants table and the per-tenant sweep queue.')
param enableTenants bool = false

@allowed([
  'Standard_LRS'
  'Standard_ZRS'
  'Standard_GRS'
  'Standard_GZRS'
])
param skuName string = 'Standard_LRS'

// Names the code relies on: shared/core/settings.py VERIFY_QUEUE ("webex-verify") and INTAKE_QUEUE
// ("webex-intake"; the host adds "-poison" to each) and INCIDENTS_TABLE's default.
var verifyQueueName = 'webex-verify'
var poisonQueueName = '${verifyQueueName}-poison'
var intakeQueueName = 'webex-intake'
var intakePoisonQueueName = '${intakeQueueName}-poison'
var incidentsTableName = 'incidents'
// Provider mode only: shared/core/names.py SWEEP_QUEUE and TENANTS_TABLE's default (docs/tenants.md).
var sweepQueueName = 'webex-tenant-sweep'
var sweepPoisonQueueName = '${sweepQueueName}-poison'
var tenantsTableName = 'tenants'
var deploymentContainerName = 'deployment-package'
var deadLetterContainerName = 'eventgrid-deadletter'

resource account 'Microsoft.Storage/storageAccounts@2023-05-01' = {
  // checkov:skip=CKV_AZURE_35:Event Grid dead-lettering, Azure Monitor and the Flex Consumption host (no VNet here) reach the account over its public endpoint; every request is Entra-authenticated (shared keys off, no public blobs).
  // checkov:skip=CKV_AZURE_59:Same as CKV_AZURE_35: no anonymous or key-based access exists, only Entra-authenticated access.
  // checkov:skip=CKV_AZURE_206:Holds a deployment package, transient queue messages and incident rows the health timer re-derives; LRS is the cost-appropriate default and skuName allows ZRS/GRS/GZRS.
  name: name
  location: location
  tags: tags
  kind: 'StorageV2'
  sku: {
    name: skuName
  }
  properties: {
    accessTier: 'Hot'
    allowSharedKeyAccess: false
    allowBlobPublicAccess: false
    allowCrossTenantReplication: false
    defaultToOAuthAuthentication: true
    minimumTlsVersion: 'TLS1_2'
    supportsHttpsTrafficOnly: true
    publicNetworkAccess: 'Enabled'
    networkAcls: {
      defaultAction: 'Allow'
      bypass: 'AzureServices'
    }
    encryption: {
      keySource: 'Microsoft.Storage'
      requireInfrastructureEncryption: true
      services: {
        blob: { enabled: true, keyType: 'Account' }
        file: { enabled: true, keyType: 'Account' }
        queue: { enabled: true, keyType: 'Account' }
        table: { enabled: true, keyType: 'Account' }
      }
    }
  }
}

resource blobService 'Microsoft.Storage/storageAccounts/blobServices@2023-05-01' = {
  parent: account
  name: 'default'
  properties: {
    deleteRetentionPolicy: {
      enabled: true
      days: 7
    }
    containerDeleteRetentionPolicy: {
      enabled: true
      days: 7
    }
  }
}

// Flex Consumption reads the app package from this container (as the managed identity).
resource deploymentContainer 'Microsoft.Storage/storageAccounts/blobServices/containers@2023-05-01' = {
  parent: blobService
  name: deploymentContainerName
  properties: {
    publicAccess: 'None'
  }
}

// Events Event Grid could not deliver within its retry policy (the intake write kept failing).
resource deadLetterContainer 'Microsoft.Storage/storageAccounts/blobServices/containers@2023-05-01' = {
  parent: blobService
  name: deadLetterContainerName
  properties: {
    publicAccess: 'None'
  }
}

resource queueService 'Microsoft.Storage/storageAccounts/queueServices@2023-05-01' = {
  parent: account
  name: 'default'
}

resource verifyQueue 'Microsoft.Storage/storageAccounts/queueServices/queues@2023-05-01' = {
  parent: queueService
  name: verifyQueueName
}

// The host creates it on the first poison message; created here so the alert and the runbook can
// rely on it from day one.
resource poisonQueue 'Microsoft.Storage/storageAccounts/queueServices/queues@2023-05-01' = {
  parent: queueService
  name: poisonQueueName
}

// The push triggers (Event Grid, alert webhook) write here and answer at once; the intake function
// does the Graph / Log Analytics / notification work.
resource intakeQueue 'Microsoft.Storage/storageAccounts/queueServices/queues@2023-05-01' = {
  parent: queueService
  name: intakeQueueName
}

resource intakePoisonQueue 'Microsoft.Storage/storageAccounts/queueServices/queues@2023-05-01' = {
  parent: queueService
  name: intakePoisonQueueName
}

// Provider mode: one sweep message per tenant, so the platform spreads a sweep over instances.
resource sweepQueue 'Microsoft.Storage/storageAccounts/queueServices/queues@2023-05-01' = if (enableTenants) {
  parent: queueService
  name: sweepQueueName
}

resource sweepPoisonQueue 'Microsoft.Storage/storageAccounts/queueServices/queues@2023-05-01' = if (enableTenants) {
  parent: queueService
  name: sweepPoisonQueueName
}

resource tableService 'Microsoft.Storage/storageAccounts/tableServices@2023-05-01' = {
  parent: account
  name: 'default'
}

resource incidentsTable 'Microsoft.Storage/storageAccounts/tableServices/tables@2023-05-01' = {
  parent: tableService
  name: incidentsTableName
}

// Provider mode: the customer tenants (PartitionKey "tenant", RowKey = tenant id).
resource tenantsTable 'Microsoft.Storage/storageAccounts/tableServices/tables@2023-05-01' = if (enableTenants) {
  parent: tableService
  name: tenantsTableName
}

// Queue writes (PutMessage) into Log Analytics: the poison-queue alert queries StorageQueueLogs.
resource queueDiagnostics 'Microsoft.Insights/diagnosticSettings@2021-05-01-preview' = {
  name: 'queue-writes-to-log-analytics'
  scope: queueService
  properties: {
    workspaceId: workspaceId
    logs: [
      {
        category: 'StorageWrite'
        enabled: true
      }
    ]
  }
}

output id string = account.id
output name string = account.name
output blobEndpoint string = account.properties.primaryEndpoints.blob
output queueEndpoint string = account.properties.primaryEndpoints.queue
output tableEndpoint string = account.properties.primaryEndpoints.table
output deploymentContainerName string = deploymentContainer.name
output deadLetterContainerName string = deadLetterContainer.name
output verifyQueueName string = verifyQueue.name
output poisonQueueName string = poisonQueue.name
output intakeQueueName string = intakeQueue.name
output intakePoisonQueueName string = intakePoisonQueue.name
output incidentsTableName string = incidentsTable.name
// Empty in single-tenant mode (nothing created).
output sweepQueueName string = enableTenants ? sweepQueueName : ''
output sweepPoisonQueueName string = enableTenants ? sweepPoisonQueueName : ''
output tenantsTableName string = enableTenants ? tenantsTableName : ''
