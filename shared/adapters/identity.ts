import type { TokenCredential } from "@azure/core-auth";
import { DefaultAzureCredential } from "@azure/identity";

/** The app's managed identity in Azure (a user-assigned one when its client id is given). */
export function managedIdentity(clientId: string | undefined): TokenCredential {
  return new DefaultAzureCredential(clientId ? { managedIdentityClientId: clientId } : {});
}
