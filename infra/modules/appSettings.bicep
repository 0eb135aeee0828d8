// The function app's settings: every setting shared/config.ts needs in Azure, plus the host's own.
// Secrets are Key Vault references and storage is reached with the app's identity, so no value here is a credential.
// AUTH_DEV_SIGNING_KEY (local development tokens) is deliberately absent: in Azure only Entra ID tokens are accepted.

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

resource appSettings 'Microsoft.Web/sites/config@2024-04-01' = {
  parent: site
  name: 'appsettings'
  properties: {
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
    TABLE_PREFIX: tablePrefix
  }
}

output emailSender string = emailSender
