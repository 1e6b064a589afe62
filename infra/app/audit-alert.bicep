// The audit-log detection path: a scheduled query over Entra AuditLogs (streamed into the workspace
// by the tenant diagnostic setting) -> action group -> the app's alert endpoint, common alert schema.
// Deployed once the code is (main.bicep wireTriggers): the webhook URL carries the function key.

param location string
param tags object
param resourceToken string

@description('Log Analytics workspace receiving AuditLogs.')
param workspaceId string

param functionAppName string

@description('Name of the HTTP function receiving alerts (functions/alerts.py): the webhook carries ITS key only.')
param alertFunctionName string = 'monitor_alert'

@description('Route of the HTTP function receiving alerts (functions/alerts.py).')
param alertRoute string = 'alerts'

@description('Optional appId of the tenant\'s "Cisco Webex Identity" app, matched besides the display name.')
param webexIdentityAppId string = ''

// --- the shipped KQL (kept in step with shared/detect/kql.py WATCHED_ACTIVITIES by tests/test_infra.py) -----
var watchedActivities = [
  'Delete service principal'
  'Remove service principal'
  'Hard delete service principal'
  'Update service principal'
  'Remove delegated permission grant'
  'Remove app role assignment from service principal'
  'Consent to application'
  'Add service principal'
  'Restore service principal'
]
var integrationAppId = '90db942a-c1eb-4e8d-82e4-eebf64a7e2ae' // Cisco Webex Identity Integration
var activityList = '"${join(watchedActivities, '", "')}"'
var identityNeedle = empty(webexIdentityAppId) ? '' : ', "${webexIdentityAppId}"'
var needleList = '"${integrationAppId}", "Cisco Webex Identity"${identityNeedle}'
var auditQueryLines = [
  'AuditLogs'
  '| where ActivityDisplayName in~ (${activityList})'
  '| where tostring(TargetResources) has_any (${needleList}) or tostring(AdditionalDetails) has_any (${needleList})'
  '| project TimeGenerated, Id, ActivityDateTime, ActivityDisplayName, CorrelationId'
]
var auditQuery = join(auditQueryLines, '\n')

resource functionApp 'Microsoft.Web/sites@2024-04-01' existing = {
  name: functionAppName
}

resource alertFunction 'Microsoft.Web/sites/functions@2024-04-01' existing = {
  parent: functionApp
  name: alertFunctionName
}

// Action-group webhooks cannot send headers, so a key rides in the URL (the function is
// AuthLevel.FUNCTION). It is the alert function's OWN default key, not the host's: anyone with
// Reader on the resource group can read an action group's webhook URL, and a function key opens
// only that one endpoint (which re-queries the workspace and dedupes), never the other functions.
// (A secure webhook with Entra auth would need an app registration with an app role, i.e. more
// tenant rights than a subscription Owner has: docs/deploy.md.)
resource remediatorGroup 'Microsoft.Insights/actionGroups@2023-01-01' = {
  name: 'ag-remediator-${resourceToken}'
  location: 'Global'
  tags: tags
  properties: {
    groupShortName: 'webexfix'
    enabled: true
    webhookReceivers: [
      {
        name: 'remediator-alert-endpoint'
        serviceUri: 'https://${functionApp.properties.defaultHostName}/api/${alertRoute}?code=${alertFunction.listKeys().default}'
        useCommonAlertSchema: true
        useAadAuth: false
      }
    ]
  }
}

// Stateless on purpose: every evaluation that sees a Webex-app record fires, and the app dedupes
// (one incident per tenant+app). Log Alerts V2 payloads carry no rows: the app re-queries the
// window with ALERT_QUERY_PADDING_MINUTES of slack for ingestion delay.
resource auditRule 'Microsoft.Insights/scheduledQueryRules@2023-12-01' = {
  name: 'webex-apps-audit-${resourceToken}'
  location: location
  tags: tags
  kind: 'LogAlert'
  properties: {
    displayName: 'Webex directory-sync apps changed in Entra ID'
    description: 'A Cisco Webex Identity (Integration) service principal was deleted, disabled, restored or lost its consent.'
    severity: 1
    enabled: true
    scopes: [
      workspaceId
    ]
    evaluationFrequency: 'PT5M'
    windowSize: 'PT10M'
    // AuditLogs exists in the workspace only after the tenant diagnostic setting's first records.
    skipQueryValidation: true
    autoMitigate: false
    criteria: {
      allOf: [
        {
          query: auditQuery
          timeAggregation: 'Count'
          operator: 'GreaterThan'
          threshold: 0
          failingPeriods: {
            numberOfEvaluationPeriods: 1
            minFailingPeriodsToAlert: 1
          }
        }
      ]
    }
    actions: {
      actionGroups: [
        remediatorGroup.id
      ]
    }
  }
}

output actionGroupName string = remediatorGroup.name
output ruleName string = auditRule.name
