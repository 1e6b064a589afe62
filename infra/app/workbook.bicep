// An Azure Monitor workbook over the app's Application Insights: incidents over time, time to recover
// (p50/p90), failed deliveries by channel, health-check verdicts. Its queries read the structured
// events the app logs (customDimensions.event on `traces`); workbook.json holds them and
// tests/test_workbook.py checks every event it names against the code.

param location string
param tags object

@description('Resource id of the Application Insights component the workbook queries.')
param appInsightsId string

@description('Name shown in the portal (Monitor → Workbooks, and the Application Insights resource).')
param displayName string = 'Webex sync remediator'

resource workbook 'Microsoft.Insights/workbooks@2023-06-01' = {
  name: guid(resourceGroup().id, appInsightsId, 'webex-remediator-workbook')
  location: location
  tags: tags
  kind: 'shared'
  properties: {
    displayName: displayName
    category: 'workbook'
    sourceId: appInsightsId
    serializedData: loadTextContent('workbook.json')
    version: 'Notebook/1.0'
  }
}

output id string = workbook.id
