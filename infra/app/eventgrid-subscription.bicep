// Subscription from the custom topic to the Event Grid-triggered function, with an explicit retry
// policy and a dead-letter container (the topic's identity writes there; shared keys are off).

param topicName string

@description('Resource id of the user-assigned identity assigned to the topic (Storage Blob Data Owner on the account).')
param identityId string

param storageAccountName string
param deadLetterContainerName string
param functionAppName string
param eventGridFunctionName string

resource topic 'Microsoft.EventGrid/topics@2022-06-15' existing = {
  name: topicName
}

resource storage 'Microsoft.Storage/storageAccounts@2023-05-01' existing = {
  name: storageAccountName
}

resource functionApp 'Microsoft.Web/sites@2024-04-01' existing = {
  name: functionAppName
}

resource subscription 'Microsoft.EventGrid/topics/eventSubscriptions@2022-06-15' = {
  parent: topic
  name: 'to-${replace(eventGridFunctionName, '_', '-')}' // letters, digits and hyphens only
  properties: {
    eventDeliverySchema: 'EventGridSchema'
    destination: {
      endpointType: 'AzureFunction'
      properties: {
        resourceId: '${functionApp.id}/functions/${eventGridFunctionName}'
        maxEventsPerBatch: 1
        preferredBatchSizeInKilobytes: 64
      }
    }
    // Event Grid's own maximum: 30 attempts over 24 h, then the event is dead-lettered. An Azure
    // Function endpoint cannot answer 400 itself: the trigger logs and acknowledges a payload it can
    // never read (no retry storm) and raises only when the intake write failed (so Event Grid retries).
    retryPolicy: {
      maxDeliveryAttempts: 30
      eventTimeToLiveInMinutes: 1440
    }
    deadLetterWithResourceIdentity: {
      identity: {
        type: 'UserAssigned'
        userAssignedIdentity: identityId
      }
      deadLetterDestination: {
        endpointType: 'StorageBlob'
        properties: {
          resourceId: storage.id
          blobContainerName: deadLetterContainerName
        }
      }
    }
  }
}

output name string = subscription.name
