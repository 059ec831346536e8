/**
 * @module catalog/postgres/sql-text
 * The two rewrites the PostgreSQL adapter applies to the shared SQL text, both pure and cached by
 * the caller:
 *
 * - `toPositional`: `?` placeholders (the common form of the catalog SQL) become `$1, $2, …`.
 *   Question marks inside string literals, quoted identifiers and comments are left alone.
 * - `expandValues`: a single-row `INSERT … VALUES (?, …, ?) [tail]` becomes a multi-row insert of
 *   `rows` tuples, so that `runMany` costs one round trip per few hundred rows instead of one per
 *   row. Anything else returns null and the caller runs the rows one by one.
 */

/** Rewrites `?` placeholders to `$n`; returns the new text and the number of placeholders. */
export function toPositional(sql: string): { text: string; count: number } {
  let out = '';
  let n = 0;
  let i = 0;
  while (i < sql.length) {
    const ch = sql[i] ?? '';
    const next = sql[i + 1] ?? '';
    if (ch === "'" || ch === '"') {
      const end = quotedEnd(sql, i, ch);
      out += sql.slice(i, end);
      i = end;
    } else if (ch === '-' && next === '-') {
      const nl = sql.indexOf('\n', i);
      const end = nl === -1 ? sql.length : nl;
      out += sql.slice(i, end);
      i = end;
    } else if (ch === '/' && next === '*') {
      const close = sql.indexOf('*/', i + 2);
      const end = close === -1 ? sql.length : close + 2;
      out += sql.slice(i, end);
      i = end;
    } else if (ch === '?') {
      n++;
      out += `$${n}`;
      i++;
    } else {
      out += ch;
      i++;
    }
  }
  return { text: out, count: n };
}

/** Index just past the closing quote of the literal or identifier opened at `start`. */
function quotedEnd(sql: string, start: number, quote: string): number {
  let i = start + 1;
  while (i < sql.length) {
    if (sql[i] === quote) {
      if (sql[i + 1] === quote) {
        i += 2; // doubled quote: an escaped quote inside the literal
        continue;
      }
      return i + 1;
    }
    i++;
  }
  return sql.length;
}

const SINGLE_ROW_INSERT = /^(\s*INSERT\s+INTO\s+[\w."]+\s*\([^)]*\)\s*VALUES\s*)\(((?:\s*\?\s*,)*\s*\?\s*)\)([\s\S]*)$/i;

export interface MultiRowInsert {
  /** Placeholders per row. */
  width: number;
  /** Builds the `?` text of an insert of `rows` rows (pass it through `toPositional`). */
  build(rows: number): string;
}

/** Recognises a single-row INSERT whose VALUES tuple is only `?` placeholders. */
export function expandValues(sql: string): MultiRowInsert | null {
  const m = SINGLE_ROW_INSERT.exec(sql);
  if (!m) return null;
  const [, head = '', tuple = '', tail = ''] = m;
  if (tail.includes('?')) return null;
  const width = tuple.split(',').length;
  const one = `(${Array.from({ length: width }, () => '?').join(', ')})`;
  return {
    width,
    build: (rows) => `${head}${Array.from({ length: rows }, () => one).join(', ')}${tail}`,
  };
}
