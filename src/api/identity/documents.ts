/**
 * @module api/identity/documents
 * The discovery documents clients read before asking for a token, all built from the base URL
 * the request came in on (scheme, host and port as the client addressed us):
 *
 * - `openidConfiguration(base, tenantId)`: the Azure AD v2 metadata MSAL fetches from
 *   `/{tenant}/v2.0/.well-known/openid-configuration`. MSAL refuses a document without `issuer`,
 *   `authorization_endpoint`, `token_endpoint` and `jwks_uri`; the other AAD fields keep it on
 *   its usual path.
 * - `adfsConfiguration(base)`: the same for the ADFS authority `/adfs` that az uses with a
 *   custom cloud (an authority ending in `/adfs` skips MSAL's instance discovery, which would
 *   need login.microsoftonline.com).
 * - `cloudMetadata(base)`: `GET /metadata/endpoints`, read by `az cloud register
 *   --endpoint-resource-manager`. One object with both the old keys az 2.45 reads
 *   (`galleryEndpoint`, `graphEndpoint`, `portalEndpoint`, `authentication`) and the newer
 *   ARM keys (`resourceManager`, `gallery`, `graph`, `microsoftGraphResourceId`, `suffixes`, ...).
 *   `authentication.audiences[0]` becomes az's token resource.
 */

/** The token audiences, `audiences[0]` first: the one az requests. */
export const CLOUD_AUDIENCES = ['https://management.core.windows.net/', 'https://management.azure.com/'] as const;

export const CLOUD_NAME = 'Snapdisk';

export function tenantIssuer(base: string, tenantId: string): string {
  return `${base}/${tenantId}/v2.0`;
}

export function adfsIssuer(base: string): string {
  return `${base}/adfs`;
}

const CLAIMS_SUPPORTED = ['sub', 'iss', 'aud', 'exp', 'iat', 'nbf', 'tid', 'oid', 'appid', 'ver'];

export function openidConfiguration(base: string, tenantId: string): Record<string, unknown> {
  const t = `${base}/${tenantId}`;
  return {
    token_endpoint: `${t}/oauth2/v2.0/token`,
    token_endpoint_auth_methods_supported: ['client_secret_post', 'client_secret_basic'],
    jwks_uri: `${t}/discovery/v2.0/keys`,
    response_modes_supported: ['query', 'fragment', 'form_post'],
    subject_types_supported: ['pairwise'],
    id_token_signing_alg_values_supported: ['RS256'],
    response_types_supported: ['code', 'id_token', 'code id_token', 'id_token token'],
    scopes_supported: ['openid', 'profile', 'email', 'offline_access'],
    grant_types_supported: ['client_credentials'],
    issuer: tenantIssuer(base, tenantId),
    request_uri_parameter_supported: false,
    userinfo_endpoint: `${base}/oidc/userinfo`,
    authorization_endpoint: `${t}/oauth2/v2.0/authorize`,
    device_authorization_endpoint: `${t}/oauth2/v2.0/devicecode`,
    http_logout_supported: true,
    frontchannel_logout_supported: true,
    end_session_endpoint: `${t}/oauth2/v2.0/logout`,
    claims_supported: CLAIMS_SUPPORTED,
    kerberos_endpoint: `${t}/kerberos`,
    tenant_region_scope: 'NA',
    cloud_instance_name: hostOf(base),
    cloud_graph_host_name: hostOf(base),
    msgraph_host: hostOf(base),
    rbac_url: base,
  };
}

export function adfsConfiguration(base: string): Record<string, unknown> {
  const a = `${base}/adfs`;
  return {
    issuer: adfsIssuer(base),
    authorization_endpoint: `${a}/oauth2/authorize`,
    token_endpoint: `${a}/oauth2/token`,
    jwks_uri: `${a}/discovery/keys`,
    token_endpoint_auth_methods_supported: ['client_secret_post', 'client_secret_basic'],
    response_types_supported: ['code', 'id_token', 'code id_token', 'id_token token', 'code token', 'code id_token token'],
    response_modes_supported: ['query', 'fragment', 'form_post'],
    grant_types_supported: ['client_credentials'],
    subject_types_supported: ['pairwise'],
    scopes_supported: ['openid', 'profile', 'email', 'allatclaims', 'aza'],
    id_token_signing_alg_values_supported: ['RS256'],
    claims_supported: CLAIMS_SUPPORTED,
    end_session_endpoint: `${a}/oauth2/logout`,
    userinfo_endpoint: `${a}/userinfo`,
    access_token_issuer: adfsIssuer(base),
    microsoft_multi_refresh_token: true,
  };
}

function hostOf(base: string): string {
  return base.replace(/^[a-z]+:\/\//i, '');
}

export function cloudMetadata(base: string): Record<string, unknown> {
  const suffixHost = 'snapdisk.localhost';
  return {
    // keys az 2.45 reads from `az cloud register --endpoint-resource-manager`
    galleryEndpoint: `${base}/gallery/`,
    graphEndpoint: `${base}/graph/`,
    portalEndpoint: `${base}/portal/`,
    authentication: {
      loginEndpoint: `${base}/adfs`,
      audiences: [...CLOUD_AUDIENCES],
      tenant: 'adfs',
      identityProvider: 'ADFS',
    },
    // the newer ARM cloud-metadata keys
    name: CLOUD_NAME,
    resourceManager: `${base}/`,
    portal: `${base}/portal/`,
    gallery: `${base}/gallery/`,
    graph: `${base}/graph/`,
    graphAudience: `${base}/graph/`,
    microsoftGraphResourceId: `${base}/graph/`,
    sqlManagement: `${base}/sql/`,
    batch: `${base}/batch/`,
    media: `${base}/media/`,
    vmImageAliasDoc: `${base}/vm-image-aliases.json`,
    activeDirectoryDataLake: `${base}/datalake/`,
    suffixes: {
      storage: suffixHost,
      keyVaultDns: `vault.${suffixHost}`,
      mhsmDns: `managedhsm.${suffixHost}`,
      acrLoginServer: `azurecr.${suffixHost}`,
      sqlServerHostname: `database.${suffixHost}`,
      azureDataLakeStoreFileSystem: `azuredatalakestore.${suffixHost}`,
      azureDataLakeAnalyticsCatalogAndJob: `azuredatalakeanalytics.${suffixHost}`,
      synapseAnalytics: `dev.azuresynapse.${suffixHost}`,
      storageSyncEndpointSuffix: `afs.${suffixHost}`,
    },
  };
}
