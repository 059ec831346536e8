// Cross-region copy crash worker: in DATA, makes a disk with SIZE bytes of deterministic data in
// eastus, snapshots it, starts a CopyStart copy to westus and reports the copy's progress on
// stdout ("PROGRESS copied frozen") until the parent kills it with SIGKILL. Uses the compiled
// engine (npm run build).
//   node test/crash/region-copy-worker.mjs DATA SEED SIZE
import { writeSync } from 'node:fs';
import process from 'node:process';
import { setTimeout as sleep } from 'node:timers/promises';
import { openEngine } from '../../dist/src/app.js';
import { xorshiftBytes as bytes } from './bytes.mjs';

const [dir, seedArg, sizeArg] = process.argv.slice(2);
const SUB = '00000000-0000-4000-8000-000000000001';
const say = (line) => writeSync(1, `${line}\n`);

const { engine } = await openEngine({ dataDir: dir, durableCatalog: true });
await engine.resources.ensureSubscription({ subscriptionId: SUB, displayName: 'crash', tenantId: 't', state: 'Enabled' });
await engine.resources.putGroup(SUB, 'east', 'eastus');
await engine.resources.putGroup(SUB, 'west', 'westus');
const { disk } = await engine.disks.createOrUpdate({ subscriptionId: SUB, resourceGroup: 'east', name: 'd', sizeGb: 1, sku: 'Standard_LRS', creationData: { createOption: 'Empty' } });
const h = await engine.disks.open(disk.uniqueId);
const size = Number(sizeArg);
for (let off = 0; off < size; off += 8 * 1024 * 1024) await h.write(off, bytes(Number(seedArg) + off, Math.min(8 * 1024 * 1024, size - off)));
await engine.snapshots.createOrUpdate({ subscriptionId: SUB, resourceGroup: 'east', name: 's1', incremental: true, sku: 'Standard_LRS', creationData: { createOption: 'Copy', sourceResourceId: `/subscriptions/${SUB}/resourceGroups/east/providers/Microsoft.Compute/disks/d` } });
await engine.idle();
const { snapshot: c } = await engine.snapshots.createOrUpdate({
  subscriptionId: SUB,
  resourceGroup: 'west',
  name: 'c1',
  location: 'westus',
  creationData: { createOption: 'CopyStart', sourceResourceId: `/subscriptions/${SUB}/resourceGroups/east/providers/Microsoft.Compute/snapshots/s1` },
});
say('COPYING');
for (;;) {
  const p = await engine.ctx.catalog.getPoint(c.familyId, c.point);
  say(`PROGRESS ${p?.copiedBlocks ?? 0} ${p?.frozenBlocks ?? 0} ${p?.state ?? 'gone'}`);
  await sleep(5);
}
