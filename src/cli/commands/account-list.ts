/**
 * @module cli/commands/account-list
 * `snapdisk account list`: the subscriptions the principal may use.
 */

import { accountList, accountTable } from '../account.js';
import type { CommandSpec } from '../command.js';

export const accountListCommand: CommandSpec = {
  name: 'account list',
  summary: 'Get a list of subscriptions for the logged in principal.',
  options: [],
  examples: [{ title: 'List the subscriptions as a table.', command: 'snapdisk account list -o table' }],
  transformer: accountTable,
  run: (ctx) => accountList(ctx),
};
