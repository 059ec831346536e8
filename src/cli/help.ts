/**
 * @module cli/help
 * `--help` text in az's layout: the command, its arguments (required ones marked), the global
 * arguments, and examples; group help lists the subgroups and commands.
 */

import type { OptionSpec } from './args.js';
import type { CommandSpec } from './command.js';

export const GLOBAL_OPTIONS: readonly OptionSpec[] = [
  { name: '--debug', kind: 'flag', help: 'Increase logging verbosity to show all debug logs (requests and responses, secrets redacted).' },
  { name: '--help', aliases: ['-h'], kind: 'flag', help: 'Show this help message and exit.' },
  { name: '--only-show-errors', kind: 'flag', help: 'Only show errors, suppressing warnings and progress bars.' },
  {
    name: '--output',
    aliases: ['-o'],
    kind: 'string',
    metavar: 'FORMAT',
    help: 'Output format. Allowed values: json, jsonc, none, table, tsv, yaml, yamlc (and csv). Default: json.',
  },
  { name: '--query', kind: 'string', metavar: 'JMESPATH', help: 'JMESPath query string. See http://jmespath.org/ for more information and examples.' },
  { name: '--subscription', kind: 'string', metavar: 'ID', help: 'Name or ID of subscription. You can configure the default subscription using `snapdisk account set -s NAME_OR_ID`.' },
  { name: '--verbose', kind: 'flag', help: 'Increase logging verbosity. Use --debug for full debug logs.' },
];

function wrap(text: string, width: number, indent: string): string[] {
  const words = text.split(/\s+/);
  const lines: string[] = [];
  let cur = '';
  for (const w of words) {
    if (cur !== '' && cur.length + 1 + w.length > width) {
      lines.push(cur);
      cur = w;
    } else cur = cur === '' ? w : `${cur} ${w}`;
  }
  if (cur !== '') lines.push(cur);
  return lines.map((l, i) => (i === 0 ? l : `${indent}${l}`));
}

function optionLines(options: readonly OptionSpec[]): string[] {
  const visible = options.filter((o) => !o.hidden);
  const label = (o: OptionSpec): string => {
    const names = [o.name, ...(o.aliases ?? [])].join(' ');
    return o.required ? `${names} [Required]` : names;
  };
  const col = Math.min(34, Math.max(...visible.map((o) => label(o).length), 10) + 1);
  const indent = ' '.repeat(4 + col + 3);
  return visible.map((o) => {
    const choices = o.choices ? ` Allowed values: ${o.choices.join(', ')}.` : '';
    const l = label(o);
    const head = l.length > col ? `    ${l}\n${' '.repeat(4 + col)} : ` : `    ${l.padEnd(col)} : `;
    return `${head}${wrap(`${o.help}${choices}`, 64, indent).join('\n')}`;
  });
}

export function commandHelp(spec: CommandSpec, globals: readonly OptionSpec[] = GLOBAL_OPTIONS): string {
  const out = ['', 'Command', `    snapdisk ${spec.name} : ${spec.summary}`];
  if (spec.description) out.push(...spec.description.split('\n').map((l) => (l === '' ? '' : `        ${l}`)));
  out.push('');
  if (spec.options.some((o) => !o.hidden)) out.push('Arguments', ...optionLines(spec.options), '');
  if (globals.length > 0) out.push('Global Arguments', ...optionLines(globals), '');
  if (spec.examples.length > 0) {
    out.push('Examples');
    for (const e of spec.examples) out.push(`    ${e.title}`, `        ${e.command}`, '');
  }
  return `${out.join('\n')}\n`;
}

export interface GroupEntry {
  name: string;
  summary: string;
}

export function groupHelp(group: string, summary: string, subgroups: readonly GroupEntry[], commands: readonly GroupEntry[]): string {
  const out = ['', 'Group', `    snapdisk${group ? ` ${group}` : ''} : ${summary}`, ''];
  const width = Math.max(...[...subgroups, ...commands].map((e) => e.name.length), 8) + 2;
  if (subgroups.length > 0) {
    out.push('Subgroups:');
    for (const g of subgroups) out.push(`    ${g.name.padEnd(width)}: ${g.summary}`);
    out.push('');
  }
  if (commands.length > 0) {
    out.push('Commands:');
    for (const c of commands) out.push(`    ${c.name.padEnd(width)}: ${c.summary}`);
    out.push('');
  }
  out.push(group ? `Run 'snapdisk ${group} COMMAND --help' for the arguments and examples of a command.` : "Run 'snapdisk GROUP --help' or 'snapdisk COMMAND --help' for more.");
  return `${out.join('\n')}\n`;
}
