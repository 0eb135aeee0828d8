// Sharing governance API on Azure Functions (Flex Consumption, Linux, Node 20).
// Deploy into an existing resource group: see infra/README.md.
targetScope = 'resourceGroup'

metadata description = 'Function app with a system-assigned identity, its storage (tables, queues), ACS email, Key Vault and monitoring.'

@minLength(1)
@maxLength(16)
@description('Short environment name (dev, test, prod). Part of every resource name, so one resource group can hold one environment.')
param environmentName string = 'dev'

@description('Region of the regional resources. Flex Consumption is not offered everywhere: az functionapp list-flexconsumption-locations.')
param location string = resourceGroup().location

@description('Microsoft Entra ID tenant that issues the access tokens the API accepts.')
param entraTenantId string = tenant().tenantId

@minLength(36)
@maxLength(36)
@description('Application (client) ID of the API app registration in Entra ID (see README, "App registration").')
param apiClientId string

@description('Expected audience of access tokens. Version 2 tokens (requestedAccessTokenVersion: 2) carry the client ID.')
param authAudience string = apiClientId

@description('Base URL of the product whose resources are shared; users land there after accepting an invitation (APP_BASE_URL).')
param appBaseUrl string

@secure()
@minLength(32)
@description('Key that signs invitation tokens. Keep it stable across deployments: changing it invalidates every pending invitation.')
param invitationSigningKey string

@minValue(1)
@maxValue(365)
@description('Days an invitation stays valid.')
param invitationTtlDays int = 14

@description('NCRONTAB (six fields, seconds first) of the audit timer.')
param auditSchedule string = '0 0 3 * * *'

@description('NCRONTAB of the timer that sends expiry reminders and removes expired grants.')
param grantExpirySchedule string = '0 */1 * * * *'

@description('Prefix of the table names the app creates.')
param tablePrefix string = 'sharing'

@description('Where Communication Services keeps email data at rest: a geography such as \'United States\', \'Europe\' or \'UK\', not a region.')
param emailDataLocation string = 'United States'

// One token per resource group and environment keeps globally unique names (storage, Key Vault) stable across redeployments.
var resourceToken = toLower(uniqueString(subscription().id, resourceGroup().id, environmentName))
var tags = {
  environment: environmentName
  application: 'sharing-governance'
}
// The queues and settings the code uses, from the file the code imports too (shared/appContract.ts), so they cannot drift.
var contract = loadJsonContent('appContract.json')
// Each queue with the <queue>-poison the host moves a message to after maxDequeueCount failures: created up front,
// so the host needs no right to create queues at run time and the poison queue exists before anyone looks for it.
var queueNames = flatten(map(items(contract.queues), queue => [queue.value.name, queue.value.poisonQueue]))
var deploymentContainerName = 'app-package'

// Azure Verified Modules where they only wrap one resource type with our values; enableTelemetry: false because their
// usage telemetry is an extra deployment reporting to Microsoft that this app does not need.
module workspace 'br/public:avm/res/operational-insights/workspace:0.16.1' = {
  name: 'workspace'
  params: {
    name: 'log-${environmentName}-${resourceToken}'
    location: location
    tags: tags
    skuName: 'PerGB2018'
    dataRetention: 30
    // No customer-managed storage is linked for saved queries.
    forceCmkForQuery: false
    enableTelemetry: false
  }
}

module appInsights 'br/public:avm/res/insights/component:0.8.0' = {
  name: 'appInsights'
  params: {
    name: 'appi-${environmentName}-${resourceToken}'
    location: location
    tags: tags
    kind: 'web'
    applicationType: 'web'
    workspaceResourceId: workspace.outputs.resourceId
    // Telemetry is accepted only with an Entra token (the app's identity holds Monitoring Metrics Publisher),
    // so the instrumentation key in the connection string grants nothing on its own.
    disableLocalAuth: true
    // Callers' IP addresses are personal data the app has no use for.
    disableIpMasking: false
    retentionInDays: 90
    enableTelemetry: false
  }
}

// The host's blobs (leases, timers, deployment package), the app's tables (created by the app, prefix TABLE_PREFIX)
// and its queues. Shared keys are off: everything reaches it with an Entra identity.
module storage 'br/public:avm/res/storage/storage-account:0.33.0' = {
  name: 'storage'
  params: {
    name: 'st${resourceToken}'
    location: location
    tags: tags
    kind: 'StorageV2'
    skuName: 'Standard_LRS'
    accessTier: 'Hot'
    allowSharedKeyAccess: false
    defaultToOAuthAuthentication: true
    allowBlobPublicAccess: false
    allowCrossTenantReplication: false
    minimumTlsVersion: 'TLS1_2'
    supportsHttpsTrafficOnly: true
    publicNetworkAccess: 'Enabled'
    networkAcls: {
      defaultAction: 'Allow'
      bypass: 'AzureServices'
    }
    blobServices: {
      containers: [
        {
          name: deploymentContainerName
          publicAccess: 'None'
        }
      ]
    }
    queueServices: {
      queues: map(queueNames, queueName => { name: queueName })
    }
    tableServices: {}
    enableTelemetry: false
  }
}

module communication 'modules/communication.bicep' = {
  name: 'communication'
  params: {
    communicationServiceName: 'acs-${environmentName}-${resourceToken}'
    emailServiceName: 'ecs-${environmentName}-${resourceToken}'
    dataLocation: emailDataLocation
    tags: tags
  }
}

module keyVault 'modules/keyVault.bicep' = {
  name: 'keyVault'
  params: {
    name: 'kv-${resourceToken}'
    location: location
    tags: tags
    communicationServiceName: communication.outputs.name
    invitationSigningKey: invitationSigningKey
  }
}

module functionApp 'modules/functionApp.bicep' = {
  name: 'functionApp'
  params: {
    name: 'func-${environmentName}-${resourceToken}'
    planName: 'plan-${environmentName}-${resourceToken}'
    location: location
    tags: tags
    deploymentContainerUrl: '${storage.outputs.serviceEndpoints.blob}${deploymentContainerName}'
  }
}

module roleAssignments 'modules/roleAssignments.bicep' = {
  name: 'roleAssignments'
  params: {
    principalId: functionApp.outputs.principalId
    storageAccountName: storage.outputs.name
    keyVaultName: keyVault.outputs.name
    appInsightsName: appInsights.outputs.name
  }
}

// Settings come last: the Key Vault references and the identity-based storage connection resolve only once the roles exist.
module appSettings 'modules/appSettings.bicep' = {
  name: 'appSettings'
  dependsOn: [
    roleAssignments
  ]
  params: {
    functionAppName: functionApp.outputs.name
    storageAccountName: storage.outputs.name
    appInsightsName: appInsights.outputs.name
    entraTenantId: entraTenantId
    authAudience: authAudience
    acsConnectionStringSecretUri: keyVault.outputs.acsConnectionStringSecretUri
    invitationSigningKeySecretUri: keyVault.outputs.invitationSigningKeySecretUri
    emailSenderDomain: communication.outputs.senderDomain
    invitationTtlDays: invitationTtlDays
    appBaseUrl: appBaseUrl
    auditSchedule: auditSchedule
    grantExpirySchedule: grantExpirySchedule
    tablePrefix: tablePrefix
  }
}

output functionAppName string = functionApp.outputs.name
output functionAppHostName string = functionApp.outputs.defaultHostName
output publicBaseUrl string = 'https://${functionApp.outputs.defaultHostName}'
output emailSender string = appSettings.outputs.emailSender
output storageAccountName string = storage.outputs.name
output keyVaultName string = keyVault.outputs.name
