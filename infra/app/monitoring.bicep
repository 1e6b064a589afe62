// Log Analytics (Entra AuditLogs land here through the tenant diagnostic setting) and a
// workspace-based Application Insights that accepts only Entra-authenticated telemetry.

param workspaceName string
param appInsightsName string
param location string
param tags object

@minValue(30)
@maxValue(730)
param retentionInDays int = 90

resource workspace 'Microsoft.OperationalInsights/workspaces@2023-09-01' = {
  name: workspaceName
  location: location
  tags: tags
  properties: {
    sku: {
      name: 'PerGB2018'
    }
    retentionInDays: retentionInDays
    features: {
      enableLogAccessUsingOnlyResourcePermissions: true
    }
  }
}

resource appInsights 'Microsoft.Insights/components@2020-02-02' = {
  name: appInsightsName
  location: location
  tags: tags
  kind: 'web'
  properties: {
    Application_Type: 'web'
    WorkspaceResourceId: workspace.id
    // Local auth off: the instrumentation key alone cannot ingest; the app authenticates with its
    // managed identity (APPLICATIONINSIGHTS_AUTHENTICATION_STRING) and Monitoring Metrics Publisher.
    DisableLocalAuth: true
    IngestionMode: 'LogAnalytics'
  }
}

output workspaceId string = workspace.id
output workspaceName string = workspace.name
output workspaceCustomerId string = workspace.properties.customerId
output appInsightsId string = appInsights.id
output appInsightsName string = appInsights.name
