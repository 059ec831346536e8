/**
 * @module cli/serve.test
 * `snapdisk serve` arguments: flags over environment over the contract's defaults.
 */
import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseServeArgs, UsageError } from './serve.js';

describe('parseServeArgs', () => {
  it('defaults of the operational contract', () => {
    expect(parseServeArgs([], {})).toEqual({ dataDir: resolve('.snapdisk'), host: '127.0.0.1', httpsPort: 7443, httpPort: 7080, nbdPort: 10809 });
  });

  it('environment variables, then flags (both --flag value and --flag=value)', () => {
    const env = { SNAPDISK_DATA: '/tmp/env', SNAPDISK_HOST: '0.0.0.0', SNAPDISK_PORT: '1', SNAPDISK_HTTP_PORT: '2', SNAPDISK_NBD_PORT: '3' };
    expect(parseServeArgs([], env)).toEqual({ dataDir: '/tmp/env', host: '0.0.0.0', httpsPort: 1, httpPort: 2, nbdPort: 3 });
    expect(parseServeArgs(['--data', '/tmp/flag', '--port=0', '--http-port', '0', '--nbd-port=0', '--config', 'c.json'], env)).toEqual({
      dataDir: '/tmp/flag',
      host: '0.0.0.0',
      httpsPort: 0,
      httpPort: 0,
      nbdPort: 0,
      configPath: resolve('c.json'),
    });
  });

  it('refuses unknown flags, missing values and bad ports with the flag named', () => {
    expect(() => parseServeArgs(['--verbose'], {})).toThrow(new UsageError("Unknown argument '--verbose'."));
    expect(() => parseServeArgs(['--data'], {})).toThrow('--data needs a value.');
    expect(() => parseServeArgs(['--port', '70000'], {})).toThrow('--port must be a port number from 0 to 65535');
    expect(() => parseServeArgs([], { SNAPDISK_NBD_PORT: '-1' })).toThrow('--nbd-port must be a port number');
  });
});
