// The function app's settings: exactly those infra/appContract.json marks for Azure, the app's and the host's.
// Secrets are Key Vault references and storage is reached with the app's identity, so no value here is a credential.
// Settings the contract marks `never` (the development signing key among them) have no value here, and a value here
// the contract does not mark for Azure would be dropped: the contract, not this file, decides what Azure gets.

@description('Function app whose settings these are.')
param functionAppName string

param storageAccountName string

param appInsightsName string

@description('Entra ID tenant that issues the access tokens.')
param entraTenantId string

@description('Expected audience (aud) of access tokens.')
param authAudience string

@description('Versionless URI of the Key Vault secret holding the ACS connection string.')
param acsConnectionStringSecretUri string

@description('Versionless URI of the Key Vault secret holding the invitation signing key.')
param invitationSigningKeySecretUri string

@description('Domain of the ACS email sender.')
param emailSenderDomain string

param invitationTtlDays int

param appBaseUrl string

param auditSchedule string

param grantExpirySchedule string

param tablePrefix string

resource site 'Microsoft.Web/sites@2024-04-01' existing = {
  name: functionAppName
}

resource storageAccount 'Microsoft.Storage/storageAccounts@2023-05-01' existing = {
  name: storageAccountName
}

resource appInsights 'Microsoft.Insights/components@2020-02-02' existing = {
  name: appInsightsName
}

// loginEndpoint is https://login.microsoftonline.com/ in the public cloud (with the trailing slash).
var authority = '${environment().authentication.loginEndpoint}${entraTenantId}'
var emailSender = 'DoNotReply@${emailSenderDomain}'

var contract = loadJsonContent('../appContract.json')

// The value of each setting in Azure.
var values = {
  // Identity-based host storage (the AzureWebJobsStorage connection): no connection string, no account key.
  AzureWebJobsStorage__accountName: storageAccount.name
  AzureWebJobsStorage__credential: 'managedidentity'
  AzureWebJobsStorage__blobServiceUri: storageAccount.properties.primaryEndpoints.blob
  AzureWebJobsStorage__queueServiceUri: storageAccount.properties.primaryEndpoints.queue
  AzureWebJobsStorage__tableServiceUri: storageAccount.properties.primaryEndpoints.table
  APPLICATIONINSIGHTS_CONNECTION_STRING: appInsights.properties.ConnectionString
  APPLICATIONINSIGHTS_AUTHENTICATION_STRING: 'Authorization=AAD'
  AUTH_ISSUER: '${authority}/v2.0'
  AUTH_AUDIENCE: authAudience
  AUTH_JWKS_URL: '${authority}/discovery/v2.0/keys'
  ACS_CONNECTION_STRING: '@Microsoft.KeyVault(SecretUri=${acsConnectionStringSecretUri})'
  EMAIL_SENDER: emailSender
  INVITATION_SIGNING_KEY: '@Microsoft.KeyVault(SecretUri=${invitationSigningKeySecretUri})'
  INVITATION_TTL_DAYS: string(invitationTtlDays)
  PUBLIC_BASE_URL: 'https://${site.properties.defaultHostName}'
  APP_BASE_URL: appBaseUrl
  AUDIT_SCHEDULE: auditSchedule
  GRANT_EXPIRY_SCHEDULE: grantExpirySchedule
  TABLE_PREFIX: tablePrefix
}

// Every setting the contract marks for Azure. One it marks and `values` lacks fails the deployment (and what-if)
// instead of starting an app that refuses its settings.
var inAzure = filter(
  items(union(contract.settings, contract.hostSettings)),
  setting => setting.value.azure == 'set' || setting.value.azure == 'keyVaultReference'
)

resource appSettings 'Microsoft.Web/sites/config@2024-04-01' = {
  parent: site
  name: 'appsettings'
  properties: toObject(inAzure, setting => setting.key, setting => values[setting.key])
}

output emailSender string = emailSender
