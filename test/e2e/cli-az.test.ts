/**
 * snapdisk's client commands side by side with the Debian Azure CLI (az 2.45) against one
 * `snapdisk serve`: for each case of test/integration/cli-az-cases.ts, az and snapdisk print the
 * same text (JSON, YAML, TSV, tables, errors) once ids and times are normalised and snapdisk's two
 * extra fields are dropped; `tty` cases run both under `script`, on a terminal, where az colours
 * jsonc and yamlc. az logs in with `login --service-principal` as the development principal.
 * With SNAPDISK_RECORD_AZ=1 it also rewrites az's outputs into
 * test/fixtures/cli/az-2.45/ (what cli-output.test.ts compares with when az is absent).
 *
 * Skipped, with a message, when az is not installed (test/e2e/setup.sh installs it).
 */
import { execFile, spawnSync } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AZ_CASES, AZ_SETUP, dropExtras, normalize } from '../integration/cli-az-cases.js';
import { BIN, cliBuilt, ROOT, startServe } from './snapdisk-process.js';
import type { ServeProcess } from './snapdisk-process.js';

const run = promisify(execFile);
const hasAz = spawnSync('bash', ['-c', 'command -v az'], { encoding: 'utf8' }).status === 0;
if (!hasAz) console.warn('cli-az.test.ts skipped: the Azure CLI (az) is not installed; run test/e2e/setup.sh as root (apt-get install azure-cli).');

interface Out {
  code: number;
  stdout: string;
  stderr: string;
}

/** Splits a command line like a shell (quotes). */
function words(line: string): string[] {
  return [...line.matchAll(/"([^"]*)"|'([^']*)'|(\S+)/g)].map((m) => m[1] ?? m[2] ?? m[3] ?? '');
}

describe.skipIf(!hasAz && !process.env.CI)('snapdisk and az print the same', () => {
  let dir: string;
  let server: ServeProcess;
  let env: NodeJS.ProcessEnv;
  let diskId = '';

  async function exec(file: string, args: string[]): Promise<Out> {
    try {
      const { stdout, stderr } = await run(file, args, { env, timeout: 120_000, maxBuffer: 16 * 1024 * 1024 });
      return { code: 0, stdout, stderr };
    } catch (err) {
      const e = err as { code?: number; stdout?: string; stderr?: string };
      return { code: typeof e.code === 'number' ? e.code : 1, stdout: e.stdout ?? '', stderr: e.stderr ?? '' };
    }
  }
  const az = (line: string): Promise<Out> => exec('az', words(line));
  const snapdisk = (line: string): Promise<Out> => exec(process.execPath, [BIN, ...words(line)]);
  /** On a terminal: `script` gives the command a pty (stdout and stderr both go to it; \r\n → \n). */
  const onTty = async (file: string, args: string[]): Promise<Out> => {
    const quoted = [file, ...args].map((a) => `'${a.replace(/'/g, "'\\''")}'`).join(' ');
    const r = await exec('script', ['-qec', quoted, '/dev/null']);
    return { ...r, stdout: r.stdout.replace(/\r\n/g, '\n') };
  };

  beforeAll(async () => {
    if (!cliBuilt()) throw new Error('dist/ is missing: run npm run build (npm run test:e2e does it).');
    dir = await mkdtemp(join(tmpdir(), 'snapdisk-cli-az-'));
    server = await startServe(join(dir, 'data'));
    env = {
      ...process.env,
      HOME: dir,
      AZURE_CONFIG_DIR: join(dir, 'azure'),
      AZURE_CORE_COLLECT_TELEMETRY: 'false',
      REQUESTS_CA_BUNDLE: server.caCert,
      SNAPDISK_DATA: join(dir, 'data'),
      SNAPDISK_CONFIG_DIR: join(dir, 'snapdisk-cli'),
    };
    // az logs in as the development principal, as `snapdisk` does by default (account show matches)
    const creds = JSON.parse(await readFile(join(dir, 'data', 'dev-credentials.json'), 'utf8')) as { clientId: string; clientSecret: string; tenantId: string };
    const login = `login --service-principal -u ${creds.clientId} -p ${creds.clientSecret} --tenant ${creds.tenantId} -o none`;
    for (const line of [`cloud register -n snapdisk --endpoint-resource-manager ${server.arm}`, 'cloud set -n snapdisk', login, ...AZ_SETUP]) {
      const r = await az(line);
      if (r.code !== 0) throw new Error(`az ${line}: ${r.stderr}`);
    }
    diskId = (await az('disk show -g rg1 -n disk1 --query id -o tsv')).stdout.trim();
  });
  afterAll(async () => {
    await server?.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('every case, byte for byte after normalisation', async () => {
    const record = process.env.SNAPDISK_RECORD_AZ === '1';
    const fixtures = join(ROOT, 'test/fixtures/cli/az-2.45');
    if (record) await mkdir(fixtures, { recursive: true });
    const failures: string[] = [];
    for (const c of AZ_CASES) {
      const line = c.args.replace('{diskId}', diskId);
      const a = c.tty ? await onTty('az', words(line)) : await az(line);
      if (c.after) await az(c.after);
      const s = c.tty ? await onTty(process.execPath, [BIN, ...words(line)]) : await snapdisk(line);
      if (c.after) await snapdisk(c.after);
      expect(a.code, `az ${line}: ${a.stderr}`).toBe(c.exit ?? 0);
      expect(s.code, `snapdisk ${line}: ${s.stderr}`).toBe(c.exit ?? 0);
      const azText = normalize(c.stderr ? a.stderr : a.stdout, c);
      const sdText = normalize(dropExtras(c.stderr ? s.stderr : s.stdout, c), c);
      if (record) await writeFile(join(fixtures, `${c.name}.txt`), azText);
      if (azText !== sdText) failures.push(`${c.name}: ${line}\n--- az\n${azText}\n--- snapdisk\n${sdText}`);
    }
    expect(failures, failures.join('\n\n')).toEqual([]);
  });

  it('snapdisk reads what az created and the other way round', async () => {
    const created = await snapdisk('snapshot create -g rg1 -n by-snapdisk --source disk1 --incremental true -o none');
    expect(created.code, created.stderr).toBe(0);
    const seen = await az('snapshot show -g rg1 -n by-snapdisk --query "[incremental, creationData.createOption]" -o tsv');
    expect(seen.stdout).toBe('true\nCopy\n'); // az: a bool as a whole tsv row is lower case
    const west = await snapdisk('snapshot create -g rg1 -n by-snapdisk-west -l westus --source by-snapdisk --incremental true --query creationData.createOption -o tsv');
    expect(west.stdout).toBe('CopyStart\n');
    // copies of a family go in creation order: az copies a snapshot newer than by-snapdisk
    await snapdisk('snapshot wait -g rg1 -n by-snapdisk-west --custom "completionPercent==`100`" --interval 1');
    expect((await az('snapshot create -g rg1 -n by-az --source disk1 --incremental true -o none')).code).toBe(0);
    const azWest = await az('snapshot create -g rg1 -n by-az-west -l westus --source by-az --incremental true --query creationData.createOption -o tsv');
    expect(azWest.stdout, azWest.stderr).toBe('CopyStart\n');
    expect((await snapdisk('snapshot show -g rg1 -n by-az-west --query "[location, incremental]" -o tsv')).stdout).toBe('westus\ntrue\n');
  });
});
