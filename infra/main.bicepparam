// Parameters for `az deployment group create --parameters infra/main.bicepparam` (see infra/README.md).
// Values come from the environment of the shell that deploys, so no secret is written to the repository.
using 'main.bicep'

param environmentName = readEnvironmentVariable('ENVIRONMENT_NAME', 'dev')

// Application (client) ID of the API app registration in Entra ID.
param apiClientId = readEnvironmentVariable('API_CLIENT_ID')

param appBaseUrl = readEnvironmentVariable('APP_BASE_URL')

// At least 32 characters; generate once (openssl rand -base64 48) and keep it in your secret store.
param invitationSigningKey = readEnvironmentVariable('INVITATION_SIGNING_KEY')
