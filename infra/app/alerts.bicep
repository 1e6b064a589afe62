// Azure Monitor alerts about the remediator itself (poison queue written, health timer stopped,
// Event Grid dead-lettered). Azure Monitor delivers them, by e-mail and (when the generic webhook is
// on) to the ITSM/paging webhook: an app that is down cannot tell anyone itself.

param location string
param tags object
param resourceToken string

@description('Log Analytics workspace receiving StorageQueueLogs.')
param workspaceId string

param appInsightsId string

@description('Resource id of the Event Grid custom topic (dead-letter alert).')
param topicId string
param storageAccountName string
param poisonQueueName string

@description('Poison queue of the intake queue (a pushed event or alert that failed 5 times).')
param intakePoisonQueueName string = 'webex-intake-poison'

@description('Provider mode: poison queue of the per-tenant sweep queue (a tenant\'s sweep that failed 5 times); empty: single-tenant mode.')
param sweepPoisonQueueName string = ''

@description('Addresses for the alerts about the remediator itself, separated by "," or ";" (main.bicep: opsEmails, else mailTo). The same rule as the app\'s MAIL_TO (shared/core/settings.py split_addresses): trimmed, empty entries dropped.')
param opsEmails string = ''

@description('HTTPS endpoint that also receives these alerts (the generic notice webhook when it is enabled), in the common alert schema; empty: e-mail only. With neither, the rules fire without notifying.')
param opsWebhookUrl string = ''

@description('Name of the timer function (named in the alert text).')
param healthFunctionName string = 'health_check'

@description('The structured log event the health timer writes on every tick (functions/health.py, customDimensions.event).')
param healthTickEvent string = 'health_tick'

@allowed([
  15
  30
  45
  60
  120
  180
  240
  300
  360
])
@description('Window without a health-check run after which the health alert fires.')
param healthAlertWindowMinutes int = 15

var sweepPoisonClause = empty(sweepPoisonQueueName) ? '' : ' or Uri contains "/${sweepPoisonQueueName}/messages"'
var poisonQueryLines = [
  'StorageQueueLogs'
  '| where AccountName == "${storageAccountName}"'
  '| where OperationName == "PutMessage"'
  '| where Uri contains "/${poisonQueueName}/messages" or Uri contains "/${intakePoisonQueueName}/messages"${sweepPoisonClause}'
  '| project TimeGenerated, Uri, StatusText, CallerIpAddress'
]
var poisonQuery = join(poisonQueryLines, '\n')

// The app's own log line, written on every tick whatever its outcome (OpenTelemetry mode has no
// `requests` row per timer run to rely on). summarize on an empty input still yields one row
// (Runs = 0), so "no run at all" is measurable.
var healthQueryLines = [
  'traces'
  '| where tostring(customDimensions["event"]) == "${healthTickEvent}"'
  '| summarize Runs = count()'
]
var healthQuery = join(healthQueryLines, '\n')

// One rule with the app (shared/core/settings.py split_addresses): "," or ";" separate, blanks around an
// address are dropped, empty entries ("a@x;", "a@x,,b@y") are skipped. Azure Monitor validates
// each address when the action group is written.
var opsAddresses = filter(map(split(replace(opsEmails, ';', ','), ','), address => trim(address)), address => !empty(address))
var opsWebhooks = empty(trim(opsWebhookUrl)) ? [] : [trim(opsWebhookUrl)]
var notifyOps = !empty(opsAddresses) || !empty(opsWebhooks)

resource opsGroup 'Microsoft.Insights/actionGroups@2023-01-01' = if (notifyOps) {
  name: 'ag-ops-${resourceToken}'
  location: 'Global'
  tags: tags
  properties: {
    groupShortName: 'webexops'
    enabled: true
    emailReceivers: [
      for (address, i) in opsAddresses: {
        name: 'ops-${i}'
        emailAddress: address
        useCommonAlertSchema: true
      }
    ]
    // Not HMAC-signed like the app's own notices (Azure Monitor sends it): receivers tell the two
    // apart by schemaId "azureMonitorCommonAlertSchema" (docs/deploy.md).
    webhookReceivers: [
      for (uri, i) in opsWebhooks: {
        name: 'ops-webhook-${i}'
        serviceUri: uri
        useCommonAlertSchema: true
      }
    ]
  }
}

// Storage queue metrics have no per-queue dimension (QueueMessageCount is account-wide), so the
// poison queue is watched through its PutMessage log records instead: any message the host moves
// there after maxDequeueCount (5) failed attempts fires this rule.
resource poisonRule 'Microsoft.Insights/scheduledQueryRules@2023-12-01' = {
  name: 'webex-verify-poison-${resourceToken}'
  location: location
  tags: tags
  kind: 'LogAlert'
  properties: {
    displayName: 'Webex remediator: message moved to a poison queue'
    description: 'A verification run, a pushed event/alert or a tenant\'s sweep failed 5 times. Pushed events wait in ${intakePoisonQueueName} for a person; ${poisonQueueName}${empty(sweepPoisonQueueName) ? '' : ' and ${sweepPoisonQueueName}'} are emptied by their watchers (the incident\'s poison notice; the tenant\'s unreachable result in the digest): read their log lines (docs/deploy.md).'
    severity: 2
    enabled: true
    scopes: [
      workspaceId
    ]
    // Every 15 minutes: a poison message waits for a person anyway, and a log search rule costs a
    // third of the 5-minute price (docs/deploy.md, "What it costs").
    evaluationFrequency: 'PT15M'
    windowSize: 'PT15M'
    // StorageQueueLogs appears with the first logged queue write.
    skipQueryValidation: true
    autoMitigate: false
    criteria: {
      allOf: [
        {
          query: poisonQuery
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
      actionGroups: notifyOps ? [opsGroup.id] : []
    }
  }
}

// Stateful: fires once when the timer stops, resolves when runs resume.
resource healthRule 'Microsoft.Insights/scheduledQueryRules@2023-12-01' = {
  name: 'webex-health-timer-${resourceToken}'
  location: location
  tags: tags
  kind: 'LogAlert'
  properties: {
    displayName: 'Webex remediator: health check stopped running'
    description: 'No ${healthFunctionName} run in ${healthAlertWindowMinutes} minutes: the app is down, cannot start, or the timer is broken.'
    severity: 1
    enabled: true
    scopes: [
      appInsightsId
    ]
    evaluationFrequency: 'PT15M' // the window is at least 15 minutes; see the poison rule for the price
    windowSize: healthAlertWindowMinutes < 60 ? 'PT${healthAlertWindowMinutes}M' : 'PT${healthAlertWindowMinutes / 60}H'
    autoMitigate: true
    criteria: {
      allOf: [
        {
          query: healthQuery
          timeAggregation: 'Total'
          metricMeasureColumn: 'Runs'
          operator: 'LessThan'
          threshold: 1
          failingPeriods: {
            numberOfEvaluationPeriods: 1
            minFailingPeriodsToAlert: 1
          }
        }
      ]
    }
    actions: {
      actionGroups: notifyOps ? [opsGroup.id] : []
    }
  }
}

// Event Grid gave up on an event (after 30 attempts / 24 h): it is in the
// dead-letter container and nobody has processed it.
resource deadLetterRule 'Microsoft.Insights/metricAlerts@2018-03-01' = {
  name: 'webex-eventgrid-deadletter-${resourceToken}'
  location: 'global'
  tags: tags
  properties: {
    description: 'Event Grid dead-lettered an audit event; inspect the eventgrid-deadletter container (docs/deploy.md).'
    severity: 2
    enabled: true
    scopes: [
      topicId
    ]
    evaluationFrequency: 'PT5M'
    windowSize: 'PT5M'
    autoMitigate: false
    criteria: {
      'odata.type': 'Microsoft.Azure.Monitor.SingleResourceMultipleMetricCriteria'
      allOf: [
        {
          criterionType: 'StaticThresholdCriterion'
          name: 'dead-lettered'
          metricNamespace: 'Microsoft.EventGrid/topics'
          metricName: 'DeadLetteredCount'
          operator: 'GreaterThan'
          threshold: 0
          timeAggregation: 'Total'
        }
      ]
    }
    actions: !notifyOps ? [] : [
      {
        actionGroupId: opsGroup.id
      }
    ]
  }
}

output healthRuleName string = healthRule.name
output poisonRuleName string = poisonRule.name
