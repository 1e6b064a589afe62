// Webex sync remediator: one resource group with everything the Functions app needs, deployed by `azd up`.
//
// First `azd up`: provision (wireTriggers=false) -> deploy code -> postdeploy hook sets WIRE_TRIGGERS=true
// and provisions again, because the Event Grid subscription and the alert webhook need the deployed
// functions (subscription validation handshake, function key). Later `azd up` runs do it in one pass.
targetScope = 'subscription'

metadata description = 'Keeps Webex directory sync with Microsoft Entra ID alive: detection, notification, verification.'

// ---------------------------------------------------------------------------------------------------
// azd
// ---------------------------------------------------------------------------------------------------

@minLength(1)
@maxLength(40)
@description('azd environment name: names the resource group (rg-<name>) and seeds every resource name.')
param environmentName string

// Regions that run the Flex Consumption plan (`az functionapp list-flexconsumption-locations`; the
// list of Microsoft's own azd Flex Consumption template, docs/deploy.md). azd offers only these.
@allowed([
  'australiaeast'
  'australiasoutheast'
  'brazilsouth'
  'canadacentral'
  'centralindia'
  'centralus'
  'eastasia'
  'eastus'
  'eastus2'
  'francecentral'
  'germanywestcentral'
  'italynorth'
  'japaneast'
  'koreacentral'
  'northcentralus'
  'northeurope'
  'norwayeast'
  'southafricanorth'
  'southcentralus'
  'southeastasia'
  'southindia'
  'spaincentral'
  'swedencentral'
  'uaenorth'
  'uksouth'
  'ukwest'
  'westcentralus'
  'westeurope'
  'westus'
  'westus2'
  'westus3'
])
@description('Azure region for every resource; only regions that run the Flex Consumption plan.')
@metadata({ azd: { type: 'location' } })
param location string

@description('Object id of whoever runs azd (AZURE_PRINCIPAL_ID). Gets Key Vault Secrets Officer (to store the Webex secrets) and EventGrid Data Sender (to post a test event). Empty: nobody.')
param principalId string = ''

// ---------------------------------------------------------------------------------------------------
// Tenant-facing settings (see docs/deploy.md for what each prompt means)
// ---------------------------------------------------------------------------------------------------

@minLength(1)
@description('Webex organization id: Control Hub > Management > Account > Organization ID.')
param webexOrgId string

@description('Optional. appId of the tenant\'s "Cisco Webex Identity" app (the Control Hub wizard creates it; its id differs per tenant). Empty: recognised by display name.')
param webexIdentityAppId string = ''

@description('Control Hub identity host of the org\'s Webex cluster (identity-b-us for US orgs, identity-b-eu for EU orgs, ...).')
param webexIdentityBase string = 'https://identity-b-us.webex.com'

@description('Webex public API base URL.')
param webexApiBase string = 'https://webexapis.com/v1'

@description('Optional. Client id of the Webex service app. When set, the app renews its own Webex access token with the refresh token and client secret it reads from Key Vault (secrets "webex-refresh-token" and "webex-client-secret"; set them after deployment, docs/deploy.md) and writes rotated refresh tokens back.')
param webexClientId string = ''

@secure()
@description('Optional. Webex service-app access token, stored in Key Vault as secret "webex-access-token". Leave empty and set the secret after deployment instead (docs/deploy.md).')
param webexAccessToken string = ''

@description('Post notices into a Webex space as a bot (needs webexRoomId and the "webex-bot-token" secret).')
param enableWebexSpace bool = false

@description('Webex space (room id) that receives incident notices when enableWebexSpace is true.')
param webexRoomId string = ''

@secure()
@description('Optional. Webex bot token, stored in Key Vault as secret "webex-bot-token".')
param webexBotToken string = ''

@description('Post notices to Microsoft Teams through a Workflows webhook (needs the "teams-webhook-url" secret).')
param enableTeams bool = false

@secure()
@description('Optional. Teams Workflows webhook URL (it embeds its own signature), stored in Key Vault as secret "teams-webhook-url".')
param teamsWebhookUrl string = ''

@description('Post signed JSON notices to an ITSM/paging webhook (needs notifyWebhookUrl and the "notify-webhook-secret" secret).')
param enableWebhook bool = false

@description('HTTPS endpoint of the generic JSON webhook when enableWebhook is true.')
param notifyWebhookUrl string = ''

@secure()
@description('Optional. HMAC-SHA256 key for the generic webhook, stored in Key Vault as secret "notify-webhook-secret".')
param notifyWebhookSecret string = ''

@description('Send notices by e-mail through Microsoft Graph sendMail. Grants the identity Mail.Send (restrict it to one mailbox: docs/deploy.md).')
param enableEmail bool = false

@description('Mailbox (UPN) the e-mail notices are sent from; required when enableEmail is true.')
param mailSender string = ''

@description('Recipients of the e-mail notices, separated by "," or ";" (blanks and empty entries ignored). Also receive the Azure Monitor alerts about the remediator itself unless opsEmails is set.')
param mailTo string = ''

@description('Signed "Check now" / "Acknowledge" links in every notice (needs the "action-link-key" Key Vault secret: docs/deploy.md, "Action links").')
param enableActionLinks bool = false

@description('A key rotation is under way: links signed with the "action-link-key-previous" secret still verify until they expire (7 days).')
param actionLinkKeyRotation bool = false

@description('Base URL the action links point at (a custom domain); empty: the function app\'s own https host.')
param publicBaseUrl string = ''

@description('Client id of the Entra app registration people sign in to the status page with (App Service Authentication; app role Status.Read; docs/deploy.md, "Status page"). Empty: authentication stays off and the status page refuses every request.')
param statusAuthClientId string = ''

@description('Recipients (separated by "," or ";") of the Azure Monitor alerts about the remediator itself (poison queue, health timer stopped, Event Grid dead letters). Empty: mailTo. Sent by Azure Monitor, so they need neither enableEmail nor Mail.Send; with enableWebhook they also go to notifyWebhookUrl.')
param opsEmails string = ''

@description('Restore a soft-deleted Webex service principal from the recycle bin automatically. Grants the identity Application.ReadWrite.All, a highly privileged permission: off by default.')
param enableAutoRestore bool = false

@description('Write a warning into the Webex service principals\' notes ("Required by Webex directory sync …") so the next admin sees it in the portal before deleting. Needs Application.ReadWrite.All, like auto-restore: off by default.')
param enablePreventionNotes bool = false

@description('Off by default: a tenant-scope deployment needs Microsoft.Resources/deployments/* at "/", which a subscription Owner does not have. Create the setting as its own step instead (infra/scripts/tenant-diagnostics.sh, docs/deploy.md). On: the deployer has tenant-root deployment rights and Global or Security Administrator.')
param enableTenantDiagnosticSetting bool = false

@allowed([
  'single'
  'provider'
])
@description('single: the deployment watches its own tenant. provider: it watches the customer tenants listed in the tenants table through the provider\'s multi-tenant app registration, which this template creates with the managed identity as its federated credential (docs/tenants.md). Creating the app registration needs Application Developer or Application Administrator in the deployment\'s tenant.')
param tenancyMode string = 'single'

@description('Provider mode: the app registration\'s display name, which customers\' admins see on the consent prompt and under Enterprise applications.')
param providerAppDisplayName string = 'Webex sync remediator'

@description('NCRONTAB (6 fields, seconds first) of the health-check timer.')
param healthSchedule string = '0 */1 * * * *'

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
@description('Minutes without a health-check run before the "health timer stopped" alert fires; keep it above two timer periods.')
param healthAlertWindowMinutes int = 15

// ---------------------------------------------------------------------------------------------------
// Tuning settings (docs/deploy.md, "Settings"): empty = the code's default. Every setting the docs
// describe comes through an azd environment variable, so no `azd provision` wipes a hand-set value.
// ---------------------------------------------------------------------------------------------------

@description('VERIFY_DELAYS: seconds between verification runs, comma-separated. Empty: code default.')
param verifyDelays string = ''

@description('VERIFY_DEADLINE_HOURS. Empty: code default.')
param verifyDeadlineHours string = ''

@description('REMINDER_HOURS. Empty: code default.')
param reminderHours string = ''

@description('ALERT_QUERY_PADDING_MINUTES. Empty: code default.')
param alertQueryPaddingMinutes string = ''

@description('AUDIT_POLL_OVERLAP_MINUTES. Empty: code default.')
param auditPollOverlapMinutes string = ''

@description('AUDIT_CADENCE (provider mode): minutes between routine audit-log reads of one customer tenant. Empty: code default (10).')
param auditCadence string = ''

@description('ALERT_QUERY: replacement KQL for the alert re-query. Empty: the shipped query.')
param alertQuery string = ''

@description('MAX_PAYLOAD_BYTES. Empty: code default.')
param maxPayloadBytes string = ''

@description('WEBEX_SCIM_CANARY_USER_ID: SCIM id of a user synced from Entra. Empty: not used.')
param webexScimCanaryUserId string = ''

@description('SDK_LOG_LEVEL: level of the SDKs\' loggers (azure-core, azure-identity, httpx, msal, kiota, msgraph). Empty: WARNING (each line is an Application Insights row); INFO or DEBUG while debugging a client.')
param sdkLogLevel string = ''

// ---------------------------------------------------------------------------------------------------
// Platform knobs (defaults fit the cloud the deployment runs in)
// ---------------------------------------------------------------------------------------------------

@description('Microsoft Graph base URL. Empty: the host of the cloud this deploys to (environment(): graph.microsoft.com, graph.microsoft.us for Azure Government / GCC High; set https://dod-graph.microsoft.us/v1.0 for DoD).')
param graphBaseUrl string = ''

@description('Log Analytics query API endpoint. Empty: the host of the cloud this deploys to.')
param logAnalyticsEndpoint string = ''

@description('Name of the HTTP function that receives Azure Monitor alerts: its own function key (not the host key) goes into the action group webhook.')
param alertFunctionName string = 'monitor_alert'

@description('Set by the postdeploy hook once the code is deployed: creates the Event Grid subscription and the alert webhook, which need the deployed functions.')
param wireTriggers bool = false

@description('Name of the Event Grid-triggered function (the subscription\'s destination).')
param eventGridFunctionName string = 'eventgrid_audit'

@description('Name of the timer-triggered health-check function (request name in Application Insights).')
param healthFunctionName string = 'health_check'

@description('Route of the HTTP function that receives Azure Monitor alerts (common alert schema).')
param alertRoute string = 'alerts'

@minValue(40)
@maxValue(1000)
@description('Flex Consumption scale-out limit.')
param maximumInstanceCount int = 40

@minValue(30)
@maxValue(730)
@description('Log Analytics retention in days (AuditLogs, function logs, storage queue logs).')
param logRetentionDays int = 90

@description('Key Vault purge protection. Safer against deletion, but `azd down --purge` then cannot purge the vault and its name stays taken for the retention period.')
param keyVaultPurgeProtection bool = false

// ---------------------------------------------------------------------------------------------------

var resourceToken = toLower(uniqueString(subscription().id, environmentName, location))
var tenantDiagnosticSettingName = 'webex-remediator-${resourceToken}'

// Hosts the app talks to, per cloud (environment().name), and the audience of the managed identity's
// token a federated identity credential accepts there (provider mode). Entra's login host comes from
// environment() itself (api.bicep); Graph and the Log Analytics query API are not in environment().
var cloudHosts = {
  AzureCloud: {
    graph: 'https://graph.microsoft.com/v1.0'
    logAnalytics: 'https://api.loganalytics.io'
    tokenExchange: 'api://AzureADTokenExchange'
  }
  AzureUSGovernment: {
    graph: 'https://graph.microsoft.us/v1.0'
    logAnalytics: 'https://api.loganalytics.us'
    tokenExchange: 'api://AzureADTokenExchangeUSGov'
  }
  AzureChinaCloud: {
    graph: 'https://microsoftgraph.chinacloudapi.cn/v1.0'
    logAnalytics: 'https://api.loganalytics.azure.cn'
    tokenExchange: 'api://AzureADTokenExchangeChina'
  }
}
var cloud = contains(cloudHosts, environment().name) ? cloudHosts[environment().name] : cloudHosts.AzureCloud
var effectiveGraphBaseUrl = empty(graphBaseUrl) ? cloud.graph : graphBaseUrl
var effectiveLogAnalyticsEndpoint = empty(logAnalyticsEndpoint) ? cloud.logAnalytics : logAnalyticsEndpoint
var providerMode = tenancyMode == 'provider'
var tags = { 'azd-env-name': environmentName, app: 'webex-sync-remediator' }
var names = {
  identity: 'id-${resourceToken}'
  workspace: 'log-${resourceToken}'
  appInsights: 'appi-${resourceToken}'
  storage: 'st${resourceToken}'
  keyVault: 'kv-${resourceToken}'
  plan: 'plan-${resourceToken}'
  functionApp: 'func-${resourceToken}'
  topic: 'evgt-${resourceToken}'
}

resource rg 'Microsoft.Resources/resourceGroups@2024-03-01' = {
  name: 'rg-${environmentName}'
  location: location
  tags: tags
}

module identity 'app/identity.bicep' = {
  name: 'identity'
  scope: rg
  params: {
    name: names.identity
    location: location
    tags: tags
  }
}

module monitoring 'app/monitoring.bicep' = {
  name: 'monitoring'
  scope: rg
  params: {
    workspaceName: names.workspace
    appInsightsName: names.appInsights
    location: location
    tags: tags
    retentionInDays: logRetentionDays
  }
}

module storage 'app/storage.bicep' = {
  name: 'storage'
  scope: rg
  params: {
    name: names.storage
    location: location
    tags: tags
    workspaceId: monitoring.outputs.workspaceId
    enableTenants: providerMode
  }
}

module keyVault 'app/keyvault.bicep' = {
  name: 'keyvault'
  scope: rg
  params: {
    name: names.keyVault
    location: location
    tags: tags
    purgeProtection: keyVaultPurgeProtection
    webexAccessToken: webexAccessToken
    webexBotToken: webexBotToken
    teamsWebhookUrl: teamsWebhookUrl
    notifyWebhookSecret: notifyWebhookSecret
    workspaceId: monitoring.outputs.workspaceId
  }
}

module rbac 'app/rbac.bicep' = {
  name: 'rbac'
  scope: rg
  params: {
    identityPrincipalId: identity.outputs.principalId
    deployerPrincipalId: principalId
    storageAccountName: storage.outputs.name
    keyVaultName: keyVault.outputs.name
    appInsightsName: monitoring.outputs.appInsightsName
    workspaceName: monitoring.outputs.workspaceName
    topicName: topic.outputs.name
    // The one secret the app writes (rotated Webex refresh tokens), only in service-app mode.
    rotatedSecretName: empty(webexClientId) ? '' : 'webex-refresh-token'
  }
}

// The topic exists before rbac (the deployer's EventGrid Data Sender role is scoped to it).
module topic 'app/eventgrid-topic.bicep' = {
  name: 'eventgrid-topic'
  scope: rg
  params: {
    name: names.topic
    location: location
    tags: tags
    identityId: identity.outputs.id
  }
}

// Provider mode: the multi-tenant app registration and its federated credential (the identity). Not
// in the wiring pass: it grants nothing in this tenant (no app-role assignment to wait for), and the
// app settings need its client id from the first provision on.
module providerApp 'app/provider-app.bicep' = if (providerMode) {
  name: 'provider-app'
  scope: rg
  params: {
    uniqueName: 'webex-remediator-provider-${resourceToken}'
    displayName: providerAppDisplayName
    identityPrincipalId: identity.outputs.principalId
    tokenExchangeAudience: cloud.tokenExchange
    enableApplicationWrite: enableAutoRestore || enablePreventionNotes
  }
}

module api 'app/api.bicep' = {
  name: 'api'
  scope: rg
  params: {
    name: names.functionApp
    planName: names.plan
    location: location
    tags: union(tags, { 'azd-service-name': 'api' })
    identityId: identity.outputs.id
    identityClientId: identity.outputs.clientId
    storageAccountName: storage.outputs.name
    deploymentContainerName: storage.outputs.deploymentContainerName
    incidentsTableName: storage.outputs.incidentsTableName
    tenancyMode: tenancyMode
    providerAppClientId: providerMode ? providerApp.outputs.appId : ''
    tenantsTableName: storage.outputs.tenantsTableName
    appInsightsName: monitoring.outputs.appInsightsName
    workspaceCustomerId: monitoring.outputs.workspaceCustomerId
    keyVaultUri: keyVault.outputs.uri
    maximumInstanceCount: maximumInstanceCount
    webexOrgId: webexOrgId
    webexIdentityAppId: webexIdentityAppId
    webexIdentityBase: webexIdentityBase
    webexApiBase: webexApiBase
    webexClientId: webexClientId
    enableWebexSpace: enableWebexSpace
    webexRoomId: webexRoomId
    enableTeams: enableTeams
    enableWebhook: enableWebhook
    notifyWebhookUrl: notifyWebhookUrl
    enableActionLinks: enableActionLinks
    actionLinkKeyRotation: actionLinkKeyRotation
    publicBaseUrl: publicBaseUrl
    mailSender: enableEmail ? mailSender : ''
    mailTo: enableEmail ? mailTo : ''
    autoRestore: enableAutoRestore
    preventionNotes: enablePreventionNotes
    healthSchedule: healthSchedule
    graphBaseUrl: effectiveGraphBaseUrl
    logAnalyticsEndpoint: effectiveLogAnalyticsEndpoint
    tuning: {
      VERIFY_DELAYS: verifyDelays
      VERIFY_DEADLINE_HOURS: verifyDeadlineHours
      REMINDER_HOURS: reminderHours
      ALERT_QUERY_PADDING_MINUTES: alertQueryPaddingMinutes
      AUDIT_POLL_OVERLAP_MINUTES: auditPollOverlapMinutes
      AUDIT_CADENCE: auditCadence
      ALERT_QUERY: alertQuery
      MAX_PAYLOAD_BYTES: maxPayloadBytes
      WEBEX_SCIM_CANARY_USER_ID: webexScimCanaryUserId
      SDK_LOG_LEVEL: sdkLogLevel
    }
  }
  dependsOn: [
    rbac // the host reads storage and Key Vault references as the identity from its first start
  ]
}

// App Service Authentication for the status page (docs/deploy.md, "Action links and the status page").
module statusAuth 'app/status-auth.bicep' = if (!empty(statusAuthClientId)) {
  name: 'status-auth'
  scope: rg
  params: {
    functionAppName: api.outputs.name
    clientId: statusAuthClientId
  }
}

// Incidents over time, time to recover, failed deliveries and health-check verdicts, from the app's
// structured log events (customDimensions.event) in Application Insights.
module workbook 'app/workbook.bicep' = {
  name: 'workbook'
  scope: rg
  params: {
    location: location
    tags: tags
    appInsightsId: monitoring.outputs.appInsightsId
  }
}

// Needs the deployed Event Grid function (Event Grid validates the endpoint when the subscription is created).
module eventSubscription 'app/eventgrid-subscription.bicep' = if (wireTriggers) {
  name: 'eventgrid-subscription'
  scope: rg
  params: {
    topicName: topic.outputs.name
    identityId: identity.outputs.id
    storageAccountName: storage.outputs.name
    deadLetterContainerName: storage.outputs.deadLetterContainerName
    functionAppName: api.outputs.name
    eventGridFunctionName: eventGridFunctionName
  }
  dependsOn: [
    rbac // dead-lettering writes blobs as the identity
  ]
}

module alerts 'app/alerts.bicep' = {
  name: 'alerts'
  scope: rg
  params: {
    location: location
    tags: tags
    resourceToken: resourceToken
    workspaceId: monitoring.outputs.workspaceId
    appInsightsId: monitoring.outputs.appInsightsId
    topicId: topic.outputs.id
    opsEmails: empty(trim(opsEmails)) ? mailTo : opsEmails
    opsWebhookUrl: enableWebhook ? notifyWebhookUrl : ''
    healthFunctionName: healthFunctionName
    healthAlertWindowMinutes: healthAlertWindowMinutes
    poisonQueueName: storage.outputs.poisonQueueName
    intakePoisonQueueName: storage.outputs.intakePoisonQueueName
    sweepPoisonQueueName: storage.outputs.sweepPoisonQueueName
    storageAccountName: storage.outputs.name
  }
}

// Needs the deployed alert function (its key goes into the action group's webhook URL).
module auditAlert 'app/audit-alert.bicep' = if (wireTriggers) {
  name: 'audit-alert'
  scope: rg
  params: {
    location: location
    tags: tags
    resourceToken: resourceToken
    workspaceId: monitoring.outputs.workspaceId
    functionAppName: api.outputs.name
    alertFunctionName: alertFunctionName
    alertRoute: alertRoute
    webexIdentityAppId: webexIdentityAppId
  }
}

// Graph app-role assignments to an identity created minutes earlier can fail while Entra replicates
// it (msgraph-bicep-types issue 193; there is no principalType to tell Graph to wait). So they are
// made in the wiring pass: the identity was created by the first provision, before the code deploy.
module graphPermissions 'app/graph-permissions.bicep' = if (wireTriggers) {
  name: 'graph-permissions'
  scope: rg
  params: {
    identityPrincipalId: identity.outputs.principalId
    enableEmail: enableEmail
    enableApplicationWrite: enableAutoRestore || enablePreventionNotes
  }
}

module tenantDiagnostics 'app/tenant-diagnostics.bicep' = if (enableTenantDiagnosticSetting) {
  name: 'tenant-diagnostics-${resourceToken}'
  scope: tenant()
  params: {
    name: tenantDiagnosticSettingName
    workspaceId: monitoring.outputs.workspaceId
  }
}

// Outputs land in .azure/<env>/.env: names and endpoints only, never keys or secrets.
output AZURE_LOCATION string = location
output AZURE_TENANT_ID string = tenant().tenantId
output AZURE_RESOURCE_GROUP string = rg.name
output AZURE_FUNCTION_APP_NAME string = api.outputs.name
output SERVICE_API_NAME string = api.outputs.name
output SERVICE_API_URI string = api.outputs.uri
output AZURE_KEY_VAULT_NAME string = keyVault.outputs.name
output AZURE_KEY_VAULT_ENDPOINT string = keyVault.outputs.uri
output AZURE_STORAGE_ACCOUNT_NAME string = storage.outputs.name
output AZURE_STORAGE_QUEUE_ENDPOINT string = storage.outputs.queueEndpoint
output AZURE_STORAGE_TABLE_ENDPOINT string = storage.outputs.tableEndpoint
output AZURE_EVENTGRID_TOPIC_ENDPOINT string = topic.outputs.endpoint
output LOG_ANALYTICS_WORKSPACE_ID string = monitoring.outputs.workspaceCustomerId
output AZURE_MANAGED_IDENTITY_CLIENT_ID string = identity.outputs.clientId
output LOG_ANALYTICS_WORKSPACE_RESOURCE_ID string = monitoring.outputs.workspaceId
// Provider mode: the client id customers consent to (empty in single-tenant mode).
output PROVIDER_APP_CLIENT_ID string = providerMode ? providerApp.outputs.appId : ''
// Name for the optional tenant diagnostic setting (infra/scripts/tenant-diagnostics.sh; not created here by default).
output TENANT_DIAGNOSTIC_SETTING_NAME string = tenantDiagnosticSettingName
