// Azure Communication Services with an Email Communication Service and an Azure-managed sender domain
// (<random>.azurecomm.net, verified by Azure; fine for low volumes, use a custom domain for production mail).

@description('Name of the Communication Services resource.')
param communicationServiceName string

@description('Name of the Email Communication Service.')
param emailServiceName string

@description('Geography where email data is stored at rest.')
param dataLocation string

param tags object = {}

resource emailService 'Microsoft.Communication/emailServices@2023-04-01' = {
  name: emailServiceName
  location: 'global'
  tags: tags
  properties: {
    dataLocation: dataLocation
  }
}

resource managedDomain 'Microsoft.Communication/emailServices/domains@2023-04-01' = {
  parent: emailService
  name: 'AzureManagedDomain'
  location: 'global'
  tags: tags
  properties: {
    domainManagement: 'AzureManaged'
    userEngagementTracking: 'Disabled'
  }
}

resource communicationService 'Microsoft.Communication/communicationServices@2023-04-01' = {
  name: communicationServiceName
  location: 'global'
  tags: tags
  properties: {
    dataLocation: dataLocation
    linkedDomains: [
      managedDomain.id
    ]
  }
}

output name string = communicationService.name

@description('Domain of the From address; an Azure-managed domain comes with the DoNotReply sender.')
output senderDomain string = managedDomain.properties.fromSenderDomain
