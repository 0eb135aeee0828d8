// Log Analytics workspace and the workspace-based Application Insights the function app reports to.

@description('Name of the Log Analytics workspace.')
param logAnalyticsName string

@description('Name of the Application Insights component.')
param appInsightsName string

param location string

param tags object = {}

@minValue(30)
@maxValue(730)
@description('Days logs are kept.')
param retentionInDays int = 30

resource workspace 'Microsoft.OperationalInsights/workspaces@2022-10-01' = {
  name: logAnalyticsName
  location: location
  tags: tags
  properties: {
    sku: {
      name: 'PerGB2018'
    }
    retentionInDays: retentionInDays
  }
}

resource appInsights 'Microsoft.Insights/components@2020-02-02' = {
  name: appInsightsName
  location: location
  tags: tags
  kind: 'web'
  properties: {
    Application_Type: 'web'
    WorkspaceResourceId: workspace.id
    // Telemetry is accepted only with an Entra token (the app's identity holds Monitoring Metrics Publisher),
    // so the instrumentation key in the connection string grants nothing on its own.
    DisableLocalAuth: true
  }
}

output appInsightsName string = appInsights.name
output workspaceId string = workspace.id
