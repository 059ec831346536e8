/**
 * @module cli/banner
 * What `snapdisk serve` prints once it is ready (operational-contract.md: the endpoints, the CA
 * certificate path and the development credentials), plus lines to paste for az and for
 * @azure/arm-compute. The credentials are printed on purpose: this is a development server and
 * the same values are in DATA/dev-credentials.json. Nothing else ever prints or logs them.
 */
import { join } from 'node:path';
import type { RunningServer } from '../server.js';

function rows(pairs: ReadonlyArray<[string, string]>): string {
  const width = Math.max(...pairs.map(([k]) => k.length));
  return pairs.map(([k, v]) => `  ${k.padEnd(width)}  ${v}`).join('\n');
}

export function banner(r: RunningServer): string {
  const c = r.credentials;
  const arm = r.httpsUrl;
  const base = arm.replace(/\/$/, '');
  const msi = `${r.httpUrl}msi/token`;
  const nbd = r.nbdPort !== undefined ? `nbd://${new URL(arm).hostname}:${r.nbdPort}/<disk or snapshot id>` : 'not started';
  return `snapdisk is ready.

Endpoints
${rows([
  ['Resource Manager (HTTPS)', arm],
  ['Plain HTTP (same routes)', r.httpUrl],
  ['NBD', nbd],
  ['Health', `${r.httpUrl}healthz`],
])}

Files
${rows([
  ['Data directory', r.dataDir],
  ['CA certificate', r.caCertPath],
  ['Credentials file', join(r.dataDir, 'dev-credentials.json')],
])}

Development credentials (a development server: do not expose it)
${rows([
  ['tenantId', c.tenantId],
  ['subscriptionId', `${c.subscriptionId}  (snapdisk development)`],
  ['secondarySubscriptionId', `${c.secondarySubscriptionId}  (snapdisk secondary)`],
  ['clientId', c.clientId],
  ['clientSecret', c.clientSecret],
  ['restrictedClientId', `${c.restrictedClientId}  (secondary subscription only)`],
  ['restrictedClientSecret', c.restrictedClientSecret],
])}

Azure CLI (az)
  export REQUESTS_CA_BUNDLE=${r.caCertPath}
  export MSI_ENDPOINT=${msi}    # every az call fetches its token here
  az cloud register -n snapdisk --endpoint-resource-manager ${arm}
  az cloud set -n snapdisk
  az login --identity
  az account set --subscription ${c.subscriptionId}

@azure/arm-compute (Node)
  export NODE_EXTRA_CA_CERTS=${r.caCertPath}
  import { ClientSecretCredential } from '@azure/identity';
  import { ComputeManagementClient } from '@azure/arm-compute';
  const credential = new ClientSecretCredential('${c.tenantId}', '${c.clientId}', '<clientSecret>',
    { authorityHost: '${base}', disableInstanceDiscovery: true });
  const compute = new ComputeManagementClient(credential, '${c.subscriptionId}', { endpoint: '${base}' });

Stop with Ctrl-C or SIGTERM.
`;
}
