// Crash-test worker: runs a deterministic stream of operations against an engine in DATA and
// journals each one on stdout ("B ..." when it starts, "A ..." when it was acknowledged), until
// the parent kills it with SIGKILL. Uses the compiled engine (npm run build).
//   node test/crash/worker.mjs DATA SEED [open]
// "open": only opens the engine and the disk (the start-up work, printing the engine's warnings as
// "LOG ..." lines), says READY and waits to be killed.
import { writeSync } from 'node:fs';
import process from 'node:process';
import { setInterval } from 'node:timers';
import { join } from 'node:path';
import { openEngine } from '../../dist/src/app.js';
import { loadConfig } from '../../dist/src/config/config.js';
import { xorshiftBytes as bytes } from './bytes.mjs';

const [dir, seedArg, mode] = process.argv.slice(2);
const seed = Number(seedArg);
const SUB = '00000000-0000-4000-8000-000000000001';
const RG = 'crash';
const WINDOW = 8 * 1024 * 1024;

let x = seed >>> 0 || 1;
const rnd = (n) => {
  x ^= x << 13; x >>>= 0; x ^= x >>> 17; x ^= x << 5; x >>>= 0;
  return x % n;
};
const say = (line) => writeSync(1, `${line}\n`);

const logger = { info: () => undefined, warn: (m) => say(`LOG ${m}`), error: (m) => say(`LOG ${m}`) };
const { engine } = await openEngine({ dataDir: dir, config: loadConfig(join(dir, 'config.json')), durableCatalog: true, ...(mode === 'open' ? { logger } : {}) });
await engine.resources.ensureSubscription({ subscriptionId: SUB, displayName: 'crash', tenantId: 't', state: 'Enabled' });
if (!(await engine.resources.findGroup(SUB, RG))) await engine.resources.putGroup(SUB, RG, 'eastus');
let disk = await engine.disks.find({ subscriptionId: SUB, resourceGroup: RG, name: 'd' });
if (!disk) {
  ({ disk } = await engine.disks.createOrUpdate({ subscriptionId: SUB, resourceGroup: RG, name: 'd', sizeGb: 1, creationData: { createOption: 'Empty' } }));
}
const h = await engine.disks.open(disk.uniqueId);
say('READY');
if (mode === 'open') await new Promise(() => setInterval(() => undefined, 60_000)); // until killed
for (let i = 0; ; i++) {
  const op = rnd(100);
  if (op < 70) {
    const len = 1 + rnd(rnd(3) === 0 ? 300_000 : 20_000);
    const off = rnd(WINDOW - len);
    const dataSeed = seed * 100_000 + i;
    say(`B W ${off} ${len} ${dataSeed}`);
    await h.write(off, bytes(dataSeed, len));
    say(`A W ${off} ${len} ${dataSeed}`);
  } else if (op < 80) {
    const len = 1 + rnd(200_000);
    const off = rnd(WINDOW - len);
    say(`B Z ${off} ${len}`);
    await h.zero(off, len);
    say(`A Z ${off} ${len}`);
  } else if (op < 90) {
    const name = `s${seed}-${i}`;
    say(`B S ${name}`);
    await engine.snapshots.createOrUpdate({ subscriptionId: SUB, resourceGroup: RG, name, incremental: true, creationData: { createOption: 'Copy', sourceResourceId: `/subscriptions/${SUB}/resourceGroups/${RG}/providers/Microsoft.Compute/disks/d` } });
    say(`A S ${name}`);
  } else if (op < 93) {
    const snaps = await engine.snapshots.list({ subscriptionId: SUB, resourceGroup: RG });
    if (snaps.length === 0) continue;
    const src = snaps[rnd(snaps.length)];
    const name = `r${seed}-${i}`;
    say(`B R ${name} ${src.name}`);
    await engine.disks.createOrUpdate({ subscriptionId: SUB, resourceGroup: RG, name, creationData: { createOption: 'Copy', sourceResourceId: `/subscriptions/${SUB}/resourceGroups/${RG}/providers/Microsoft.Compute/snapshots/${src.name}` } });
    say(`A R ${name} ${src.name}`);
  } else {
    say('B F');
    await h.flush();
    say('A F');
  }
}
