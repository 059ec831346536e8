/**
 * @module chunks/layout
 * The one key layout shared by every blob backend, so that a copied directory is a valid bucket
 * and back: packs live under `packs/<first two hex digits>/<pack id>.pack`.
 */

export function packKey(id: string): string {
  return `packs/${id.slice(0, 2)}/${id}.pack`;
}

export const PACK_PREFIX = 'packs/';
