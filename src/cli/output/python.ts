/**
 * @module cli/output/python
 * How az (Python) spells values, so that snapdisk prints the same text: `str()` of scalars
 * (`True`, `None`, `100.0`), `repr()` of floats, and `datetime.isoformat()` of the timestamps
 * msrest parsed (`2024-01-05T10:00:00.123000+00:00`).
 */

/** Python's `repr(float)`: shortest round-trip digits, `.0` on integers, exponent outside [1e-4, 1e16). */
export function pyFloat(x: number): string {
  if (Number.isNaN(x)) return 'nan';
  if (!Number.isFinite(x)) return x > 0 ? 'inf' : '-inf';
  if (x === 0) return Object.is(x, -0) ? '-0.0' : '0.0';
  const exp = Math.floor(Math.log10(Math.abs(x)));
  if (exp >= -4 && exp < 16) {
    const s = String(x);
    if (!s.includes('e')) return s.includes('.') ? s : `${s}.0`;
  }
  const [mantissa = '0', e = '0'] = x.toExponential().split('e');
  const n = Number(e);
  return `${mantissa}e${n < 0 ? '-' : '+'}${String(Math.abs(n)).padStart(2, '0')}`;
}

/** Python's `str()` of a JSON scalar; `isFloat` says the value was a float in Python. */
export function pyStr(value: unknown, isFloat = false): string {
  if (value === null || value === undefined) return 'None';
  if (value === true) return 'True';
  if (value === false) return 'False';
  if (typeof value === 'number') return isFloat ? pyFloat(value) : Number.isInteger(value) ? String(value) : pyFloat(value);
  return String(value);
}

/**
 * `datetime.isoformat()` of an ISO 8601 timestamp as msrest parses it: microseconds (six digits,
 * omitted when zero) and `+00:00` for UTC. Text that is not a timestamp is returned unchanged.
 */
export function pyIsoformat(text: string): string {
  const m = /^(\d{4}-\d{2}-\d{2})[Tt ](\d{2}:\d{2}:\d{2})(?:\.(\d+))?(Z|z|[+-]\d{2}:?\d{2})?$/.exec(text);
  if (!m) return text;
  const [, date, time, frac, zone] = m;
  const micro = (frac ?? '').padEnd(6, '0').slice(0, 6);
  const fraction = /^0*$/.test(micro) ? '' : `.${micro}`;
  let offset = '';
  if (zone === undefined) offset = '';
  else if (zone === 'Z' || zone === 'z') offset = '+00:00';
  else offset = zone.includes(':') ? zone : `${zone.slice(0, 3)}:${zone.slice(3)}`;
  return `${date ?? ''}T${time ?? ''}${fraction}${offset}`;
}
