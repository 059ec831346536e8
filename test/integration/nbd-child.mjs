// NBD durability child: serves the engine in DATA over NBD on a free port (the compiled code, so
// `npm run build` first), prints "READY <port> <pid> <disk id>" and runs until it is killed.
//   node test/integration/nbd-child.mjs DATA
import { writeSync } from 'node:fs';
import process from 'node:process';
import { setInterval } from 'node:timers';
import { openEngine } from '../../dist/src/app.js';
import { EngineNbdBackend } from '../../dist/src/nbd/engine-backend.js';
import { NbdServer } from '../../dist/src/nbd/server.js';

const [dir] = process.argv.slice(2);
const SUB = '00000000-0000-4000-8000-000000000001';
const RG = 'rg1';

const { engine } = await openEngine({ dataDir: dir, durableCatalog: true });
await engine.resources.ensureSubscription({ subscriptionId: SUB, displayName: 'dev', tenantId: 't', state: 'Enabled' });
if (!(await engine.resources.findGroup(SUB, RG))) await engine.resources.putGroup(SUB, RG, 'eastus');
if (!(await engine.disks.find({ subscriptionId: SUB, resourceGroup: RG, name: 'd' }))) {
  await engine.disks.createOrUpdate({ subscriptionId: SUB, resourceGroup: RG, name: 'd', sizeGb: 1, creationData: { createOption: 'Empty' } });
}
const server = new NbdServer(new EngineNbdBackend(engine));
const { port } = await server.listen(0, '127.0.0.1');
writeSync(1, `READY ${port} ${process.pid} /subscriptions/${SUB}/resourceGroups/${RG}/providers/Microsoft.Compute/disks/d\n`);
setInterval(() => undefined, 1 << 30);
