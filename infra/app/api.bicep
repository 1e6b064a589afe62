// The Functions app on the Flex Consumption plan (Linux, Python 3.11), running as the user-assigned
// identity. App-setting names are the ones shared/core/settings.py reads (tests/test_infra.py checks both
// directions); optional settings the template leaves at the code's defaults are listed in
// docs/deploy.md.

param name string
param planName string
param location string
param tags object

@description('Resource id of the user-assigned managed identity.')
param identityId string

@description('Client id of the user-assigned managed identity.')
param identityClientId string

param storageAccountName string
param deploymentContainerName string
param incidentsTableName string

@allowed([
  'single'
  'provider'
])
@description('TENANCY_MODE: single (this tenant) or provider (the tenants table, through the provider app).')
param tenancyMode string = 'single'

@description('Provider mode: client id of the multi-tenant app registration (provider-app.bicep); empty otherwise.')
param providerAppClientId string = ''

@description('Provider mode: the tenants table; empty otherwise.')
param tenantsTableName string = ''
param appInsightsName string

@description('Log Analytics workspace (customer) id the alert endpoint re-queries.')
param workspaceCustomerId string

@description('Key Vault URI (https://<name>.vault.azure.net/) holding the Webex secrets.')
param keyVaultUri string

@minValue(40)
@maxValue(1000)
param maximumInstanceCount int = 40

@description('Flex Consumption instance memory. 512 MB: the worker peaks at ~116 MB RSS over 21 health ticks and a whole incident lifecycle (bench/bench_tick_cost.py, docs/deploy.md "What it costs").')
@allowed([
  512
  2048
  4096
])
param instanceMemoryMB int = 512

param webexOrgId string
param webexIdentityAppId string
param webexIdentityBase string
param webexApiBase string

@description('Webex service-app client id; empty: the static access token is used.')
param webexClientId string
param enableWebexSpace bool
param webexRoomId string
param enableTeams bool
param enableWebhook bool
param notifyWebhookUrl string

@description('Signed "Check now" / "Acknowledge" links (Key Vault secret "action-link-key").')
param enableActionLinks bool = false

@description('Links signed with the "action-link-key-previous" secret still verify (a key rotation).')
param actionLinkKeyRotation bool = false

@description('Base URL of the action links; empty: this app\'s https host.')
param publicBaseUrl string = ''

param mailSender string
param mailTo string
param autoRestore bool
param preventionNotes bool
param healthSchedule string
param graphBaseUrl string
param logAnalyticsEndpoint string

@description('Tuning settings by app-setting name (main.bicep, one azd variable each); empty = code default.')
param tuning object

resource storage 'Microsoft.Storage/storageAccounts@2023-05-01' existing = {
  name: storageAccountName
}

resource appInsights 'Microsoft.Insights/components@2020-02-02' existing = {
  name: appInsightsName
}

// Platform settings: the Functions host, Application Insights and DefaultAzureCredential read these.
// (Flex Consumption rejects FUNCTIONS_WORKER_RUNTIME / FUNCTIONS_EXTENSION_VERSION: the runtime
// comes from functionAppConfig below.)
// The service URIs come from the account itself, so they carry the cloud's storage suffix
// (core.windows.net, core.usgovcloudapi.net, ...): `__accountName` alone means the public cloud.
var platformSettings = {
  AzureWebJobsStorage__blobServiceUri: storage.properties.primaryEndpoints.blob
  AzureWebJobsStorage__queueServiceUri: storage.properties.primaryEndpoints.queue
  AzureWebJobsStorage__tableServiceUri: storage.properties.primaryEndpoints.table
  AzureWebJobsStorage__credential: 'managedidentity'
  AzureWebJobsStorage__clientId: identityClientId
  // The ingestion endpoint and the (non-secret) instrumentation key; with local auth off only
  // Entra-authenticated telemetry is accepted, as the identity below.
  APPLICATIONINSIGHTS_CONNECTION_STRING: appInsights.properties.ConnectionString
  APPLICATIONINSIGHTS_AUTHENTICATION_STRING: 'ClientId=${identityClientId};Authorization=AAD'
  // OpenTelemetry mode (host.json telemetryMode): the Python worker streams its own logs, so the
  // incident and tenant fields on each line arrive as custom dimensions (shared/core/telemetry.py). The
  // worker reads PYTHON_ENABLE_OPENTELEMETRY (docs/deploy.md, "OpenTelemetry switch"); the app
  // configures the Azure Monitor exporter itself, with the managed identity.
  PYTHON_ENABLE_OPENTELEMETRY: 'true'
  // DefaultAzureCredential picks the user-assigned identity by this client id.
  AZURE_CLIENT_ID: identityClientId
}

// Secrets are Key Vault references (versionless: a rotated secret is picked up within a day, or at
// once on restart); the template never sees a secret value. A reference is set only while what needs
// it is enabled: an unresolvable reference reaches the app as its literal text (the app reads that as
// unset, warns, and tells the admins once: shared/core/settings.py, shared/checks/config_report.py).
var secretRefs = {
  webexAccessToken: '@Microsoft.KeyVault(SecretUri=${keyVaultUri}secrets/webex-access-token)'
  webexBotToken: '@Microsoft.KeyVault(SecretUri=${keyVaultUri}secrets/webex-bot-token)'
  teamsWebhookUrl: '@Microsoft.KeyVault(SecretUri=${keyVaultUri}secrets/teams-webhook-url)'
  notifyWebhookSecret: '@Microsoft.KeyVault(SecretUri=${keyVaultUri}secrets/notify-webhook-secret)'
  actionLinkKey: '@Microsoft.KeyVault(SecretUri=${keyVaultUri}secrets/action-link-key)'
  actionLinkKeyPrevious: '@Microsoft.KeyVault(SecretUri=${keyVaultUri}secrets/action-link-key-previous)'
}

// Settings the app reads (shared/core/settings.py aliases). An empty value means "not configured".
var appSettings = {
  TENANT_ID: tenant().tenantId
  WEBEX_ORG_ID: webexOrgId
  WEBEX_IDENTITY_APP_ID: webexIdentityAppId
  WEBEX_IDENTITY_BASE: webexIdentityBase
  WEBEX_API_BASE: webexApiBase
  // Static-token mode only: with a service app there is no webex-access-token secret, and its
  // unresolved reference would be the literal text (read as unset by the app, but never needed).
  WEBEX_ACCESS_TOKEN: empty(webexClientId) ? secretRefs.webexAccessToken : ''
  // Service app (shared/clients/webex_auth.py): read AND written by the app (rotated refresh tokens become
  // new secret versions), so these are read through the SDK, not as Key Vault references.
  WEBEX_CLIENT_ID: webexClientId
  WEBEX_KEY_VAULT_URL: keyVaultUri
  WEBEX_REFRESH_TOKEN_SECRET: 'webex-refresh-token'
  WEBEX_CLIENT_SECRET_SECRET: 'webex-client-secret'
  WEBEX_BOT_TOKEN: enableWebexSpace ? secretRefs.webexBotToken : ''
  WEBEX_ROOM_ID: enableWebexSpace ? webexRoomId : ''
  TEAMS_WEBHOOK_URL: enableTeams ? secretRefs.teamsWebhookUrl : ''
  NOTIFY_WEBHOOK_URL: enableWebhook ? notifyWebhookUrl : ''
  NOTIFY_WEBHOOK_SECRET: enableWebhook ? secretRefs.notifyWebhookSecret : ''
  // Signed action links (shared/core/action_links.py); the previous key only during a rotation.
  ACTION_LINK_KEY: enableActionLinks ? secretRefs.actionLinkKey : ''
  ACTION_LINK_KEY_PREVIOUS: enableActionLinks && actionLinkKeyRotation ? secretRefs.actionLinkKeyPrevious : ''
  PUBLIC_BASE_URL: !enableActionLinks ? '' : empty(publicBaseUrl) ? 'https://${functionApp.properties.defaultHostName}' : publicBaseUrl
  MAIL_SENDER: mailSender
  MAIL_TO: mailTo
  AUTO_RESTORE: autoRestore ? 'true' : 'false'
  PREVENTION_NOTES: preventionNotes ? 'true' : 'false'
  HEALTH_SCHEDULE: healthSchedule
  INCIDENTS_TABLE: incidentsTableName
  // Many tenants (docs/tenants.md): the customer tenants' Graph tokens come from the provider app,
  // whose credential is this app's identity (federated identity credential).
  TENANCY_MODE: tenancyMode
  PROVIDER_APP_CLIENT_ID: providerAppClientId
  TENANTS_TABLE: tenantsTableName
  GRAPH_BASE_URL: graphBaseUrl
  ENTRA_LOGIN_BASE: environment().authentication.loginEndpoint
  LOG_ANALYTICS_ENDPOINT: logAnalyticsEndpoint
  LOG_ANALYTICS_WORKSPACE_ID: workspaceCustomerId
}

// Tuning settings, each from its own azd variable (main.bicep); an empty value is the code's default.
var tuningSettings = {
  VERIFY_DELAYS: tuning.VERIFY_DELAYS
  VERIFY_DEADLINE_HOURS: tuning.VERIFY_DEADLINE_HOURS
  REMINDER_HOURS: tuning.REMINDER_HOURS
  ALERT_QUERY_PADDING_MINUTES: tuning.ALERT_QUERY_PADDING_MINUTES
  AUDIT_POLL_OVERLAP_MINUTES: tuning.AUDIT_POLL_OVERLAP_MINUTES
  AUDIT_CADENCE: tuning.AUDIT_CADENCE
  ALERT_QUERY: tuning.ALERT_QUERY
  MAX_PAYLOAD_BYTES: tuning.MAX_PAYLOAD_BYTES
  WEBEX_SCIM_CANARY_USER_ID: tuning.WEBEX_SCIM_CANARY_USER_ID
  SDK_LOG_LEVEL: tuning.SDK_LOG_LEVEL
}

resource plan 'Microsoft.Web/serverfarms@2024-04-01' = {
  // checkov:skip=CKV_AZURE_225:Flex Consumption: instances are placed by the platform; work lost to a zone outage is redelivered (Event Grid retries for 24 h, queue messages reappear, the timer runs again).
  name: planName
  location: location
  tags: tags
  kind: 'functionapp'
  sku: {
    tier: 'FlexConsumption'
    name: 'FC1'
  }
  properties: {
    reserved: true
  }
}

resource functionApp 'Microsoft.Web/sites@2024-04-01' = {
  // checkov:skip=CKV_AZURE_221:Event Grid and Azure Monitor action groups deliver over the public endpoint; every trigger endpoint is guarded by a function key or the Event Grid system key.
  // checkov:skip=CKV_AZURE_222:Same as CKV_AZURE_221.
  // checkov:skip=CKV_AZURE_17:Event Grid and Azure Monitor action groups cannot present client certificates.
  // checkov:skip=CKV_AZURE_212:Flex Consumption scales from zero per trigger; there is no fixed instance count to fail over between.
  // checkov:skip=CKV_AZURE_78:FTP deployment is off through basicPublishingCredentialsPolicies 'ftp' (allow: false) below; siteConfig.ftpsState is deprecated on Flex Consumption and newer stamps reject it (ARM error 51021).
  // checkov:skip=CKV_AZURE_213:Every endpoint is key-guarded and Flex Consumption manages instance health; the app's own health is watched by the health-timer alert (alerts.bicep).
  name: name
  location: location
  tags: tags
  kind: 'functionapp,linux'
  identity: {
    type: 'UserAssigned'
    userAssignedIdentities: {
      '${identityId}': {}
    }
  }
  properties: {
    serverFarmId: plan.id
    httpsOnly: true
    clientCertEnabled: false
    publicNetworkAccess: 'Enabled'
    keyVaultReferenceIdentity: identityId
    siteConfig: {
      // No ftpsState: Flex Consumption lists it as deprecated and newer stamps reject it (ARM
      // error 51021); basic publishing credentials are off below instead.
      minTlsVersion: '1.2'
      http20Enabled: true
    }
    functionAppConfig: {
      deployment: {
        storage: {
          type: 'blobContainer'
          value: '${storage.properties.primaryEndpoints.blob}${deploymentContainerName}'
          authentication: {
            type: 'UserAssignedIdentity'
            userAssignedIdentityResourceId: identityId
          }
        }
      }
      scaleAndConcurrency: {
        maximumInstanceCount: maximumInstanceCount
        instanceMemoryMB: instanceMemoryMB
      }
      runtime: {
        name: 'python'
        version: '3.11'
      }
    }
  }

  resource settings 'config' = {
    name: 'appsettings'
    properties: union(platformSettings, appSettings, tuningSettings)
  }

  // azd deploys to Flex Consumption with Entra auth; basic (publishing) credentials stay off.
  resource ftpCredentials 'basicPublishingCredentialsPolicies' = {
    name: 'ftp'
    properties: {
      allow: false
    }
  }

  resource scmCredentials 'basicPublishingCredentialsPolicies' = {
    name: 'scm'
    properties: {
      allow: false
    }
  }
}

// No FunctionAppLogs diagnostic setting: the same lines reach the same workspace through Application
// Insights (AppTraces / AppRequests); a second copy would double the log ingestion a tenant pays for.

output id string = functionApp.id
output name string = functionApp.name
output uri string = 'https://${functionApp.properties.defaultHostName}'
