/**
 * @module nbd/start
 * Starts the NBD server of `snapdisk serve` over the engine (the `nbd` hook of server.ts).
 */

import type { Engine } from '../engine/engine.js';
import { EngineNbdBackend } from './engine-backend.js';
import { NbdServer } from './server.js';

export async function startNbd(engine: Engine, listen: { host: string; port: number }): Promise<{ port: number; close(): Promise<void> }> {
  const server = new NbdServer(new EngineNbdBackend(engine));
  const { port } = await server.listen(listen.port, listen.host);
  return { port, close: () => server.close() };
}
