/**
 * @module cli/version
 * The package version (package.json is two levels up from src/cli, three from dist/src/cli).
 */
import { readFileSync } from 'node:fs';

let cached: string | undefined;

export function version(): string {
  if (cached !== undefined) return cached;
  for (const rel of ['../../package.json', '../../../package.json']) {
    try {
      const pkg = JSON.parse(readFileSync(new URL(rel, import.meta.url), 'utf8')) as { name?: unknown; version?: unknown };
      if (pkg.name === 'snapdisk' && typeof pkg.version === 'string') return (cached = pkg.version);
    } catch {
      // try the next candidate
    }
  }
  return (cached = 'unknown');
}
