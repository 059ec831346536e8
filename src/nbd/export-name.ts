/**
 * @module nbd/export-name
 * How the export name a client sends becomes the name `NbdBackend.open` receives.
 *
 * snapdisk exports are named by ARM resource id (`/subscriptions/<guid>/resourceGroups/rg/
 * providers/Microsoft.Compute/disks/d1`). NBD URIs (`nbd://host:port/<name>`, as parsed by qemu
 * and libnbd) drop the one slash that separates authority and path, so `qemu-img info
 * nbd://h:p/subscriptions/...` sends `subscriptions/...` while `nbdinfo --list` output or
 * `--image-opts ...,export=/subscriptions/...` sends it with the slash. Both must reach the same
 * disk, so every non-empty name is normalised to exactly one leading slash before it reaches the
 * backend; the empty name (the protocol's "default export") stays empty.
 */

export function normalizeExportName(raw: string): string {
  if (raw === '') return '';
  let i = 0;
  while (raw.charCodeAt(i) === 0x2f) i++; // '/'
  return '/' + raw.slice(i);
}

/** Names compare like ARM ids: after normalisation and case-insensitively. */
export function sameExport(a: string, b: string): boolean {
  return normalizeExportName(a).toLowerCase() === normalizeExportName(b).toLowerCase();
}
