// Flex Consumption plan and the Linux function app (Node 20, Functions host v4) with a system-assigned identity.
// Its app settings are set by appSettings.bicep once the identity has its roles.

@description('Function app name; also the first label of its default hostname.')
param name string

@description('Name of the Flex Consumption plan.')
param planName string

param location string

param tags object = {}

@description('URL of the blob container that holds the deployment package (https://<account>.blob.core.windows.net/<container>).')
param deploymentContainerUrl string

@minValue(40)
@maxValue(1000)
@description('Upper bound of instances the plan scales out to.')
param maximumInstanceCount int = 100

@allowed([
  2048
  4096
])
@description('Memory of each instance, in MB.')
param instanceMemoryMB int = 2048

resource plan 'Microsoft.Web/serverfarms@2024-04-01' = {
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

resource site 'Microsoft.Web/sites@2024-04-01' = {
  name: name
  location: location
  tags: tags
  kind: 'functionapp,linux'
  identity: {
    type: 'SystemAssigned'
  }
  properties: {
    serverFarmId: plan.id
    httpsOnly: true
    clientCertEnabled: false
    siteConfig: {
      minTlsVersion: '1.2'
      scmMinTlsVersion: '1.2'
      ftpsState: 'Disabled'
      http20Enabled: true
    }
    // Flex Consumption takes runtime and deployment here; FUNCTIONS_WORKER_RUNTIME, FUNCTIONS_EXTENSION_VERSION and
    // WEBSITE_RUN_FROM_PACKAGE must not be set as app settings on this plan (the host is always v4).
    functionAppConfig: {
      deployment: {
        storage: {
          type: 'blobContainer'
          value: deploymentContainerUrl
          authentication: {
            type: 'SystemAssignedIdentity'
          }
        }
      }
      scaleAndConcurrency: {
        maximumInstanceCount: maximumInstanceCount
        instanceMemoryMB: instanceMemoryMB
      }
      runtime: {
        name: 'node'
        version: '20'
      }
    }
  }
}

// No publishing passwords: deployments authenticate with Entra ID (az / func use the signed-in account).
resource ftpCredentials 'Microsoft.Web/sites/basicPublishingCredentialsPolicies@2024-04-01' = {
  parent: site
  name: 'ftp'
  properties: {
    allow: false
  }
}

resource scmCredentials 'Microsoft.Web/sites/basicPublishingCredentialsPolicies@2024-04-01' = {
  parent: site
  name: 'scm'
  properties: {
    allow: false
  }
}

output name string = site.name
output id string = site.id
output defaultHostName string = site.properties.defaultHostName

@description('Object ID of the app\'s system-assigned identity, for role assignments.')
output principalId string = site.identity.principalId
