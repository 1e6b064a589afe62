// App Service Authentication (Entra ID) on the function app, for the status page. Not required
// globally: Event Grid, the alert webhook (function keys) and the signed action links must stay
// reachable without a sign-in. The status function itself refuses any request while this is off,
// without the platform's principal header, or without the Status.Read app role (functions/status.py);
// people sign in at /.auth/login/aad. Deployed by main.bicep only when statusAuthClientId is set.

param functionAppName string

@description('Client id of the Entra app registration people sign in with (app role Status.Read).')
param clientId string

resource functionApp 'Microsoft.Web/sites@2024-04-01' existing = {
  name: functionAppName

  resource auth 'config' = {
    // checkov reads every Microsoft.Web/sites/config resource as the site's web config; this one is the
    // authsettingsV2 document only. The site's own checks run on Microsoft.Web/sites in api.bicep.
    // checkov:skip=CKV_AZURE_13:This IS App Service Authentication: authsettingsV2 keeps the switch at properties.platform.enabled (true below); the check reads the v1 authsettings shape.
    // checkov:skip=CKV_AZURE_63:Not a web config: HTTP logging is a siteConfig setting; the app logs to Application Insights (api.bicep).
    // checkov:skip=CKV_AZURE_65:Not a web config: detailed error pages are a siteConfig setting of the site.
    // checkov:skip=CKV_AZURE_66:Not a web config: failed request tracing is a siteConfig setting of the site.
    // checkov:skip=CKV_AZURE_80:Not a web config, and the app is Python (no .NET Framework).
    // checkov:skip=CKV_AZURE_88:Not a web config; Flex Consumption deploys from a blob container, not Azure Files.
    // checkov:skip=CKV_AZURE_222:Not a web config; public access is decided on the site (api.bicep, justified there).
    name: 'authsettingsV2'
    properties: {
      platform: {
        enabled: true
      }
      globalValidation: {
        requireAuthentication: false
        unauthenticatedClientAction: 'AllowAnonymous'
      }
      identityProviders: {
        azureActiveDirectory: {
          enabled: true
          registration: {
            clientId: clientId
            openIdIssuer: '${environment().authentication.loginEndpoint}${tenant().tenantId}/v2.0'
          }
          validation: {
            allowedAudiences: [
              clientId
              'api://${clientId}'
            ]
          }
        }
      }
      login: {
        tokenStore: {
          enabled: false
        }
      }
    }
  }
}
