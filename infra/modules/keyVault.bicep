// Key Vault holding the app's two secrets. RBAC authorization: the app reads them through Key Vault references
// with its own identity (Key Vault Secrets User), nobody gets an access policy.

@minLength(3)
@maxLength(24)
param name string

param location string

param tags object = {}

@description('Communication Services resource whose connection string is stored here.')
param communicationServiceName string

@secure()
@description('Key that signs invitation tokens.')
param invitationSigningKey string

resource vault 'Microsoft.KeyVault/vaults@2023-07-01' = {
  name: name
  location: location
  tags: tags
  properties: {
    tenantId: subscription().tenantId
    sku: {
      family: 'A'
      name: 'standard'
    }
    enableRbacAuthorization: true
    enableSoftDelete: true
    softDeleteRetentionInDays: 90
    publicNetworkAccess: 'Enabled'
  }
}

resource communicationService 'Microsoft.Communication/communicationServices@2023-04-01' existing = {
  name: communicationServiceName
}

// Read from the resource during deployment, so the access key never passes through a parameter or an output.
resource acsConnectionString 'Microsoft.KeyVault/vaults/secrets@2023-07-01' = {
  parent: vault
  name: 'acs-connection-string'
  properties: {
    value: communicationService.listKeys().primaryConnectionString
    contentType: 'text/plain'
  }
}

resource invitationKey 'Microsoft.KeyVault/vaults/secrets@2023-07-01' = {
  parent: vault
  name: 'invitation-signing-key'
  properties: {
    value: invitationSigningKey
    contentType: 'text/plain'
  }
}

output name string = vault.name

// Versionless URIs: the app picks up a rotated secret without a redeployment.
output acsConnectionStringSecretUri string = acsConnectionString.properties.secretUri
output invitationSigningKeySecretUri string = invitationKey.properties.secretUri
