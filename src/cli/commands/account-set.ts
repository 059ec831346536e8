/**
 * @module cli/commands/account-set
 * `snapdisk account set --subscription ID_OR_NAME`: the subscription later commands use (kept in
 * the config directory, per server and principal).
 */

import type { SubscriptionWire } from '../account.js';
import type { CommandSpec } from '../command.js';
import { CliError } from '../errors.js';

export const accountSet: CommandSpec = {
  name: 'account set',
  summary: 'Set a subscription to be the current active subscription.',
  options: [{ name: '--subscription', aliases: ['-s', '--name', '-n'], kind: 'string', required: true, metavar: 'ID', help: 'Name or ID of subscription.' }],
  examples: [{ title: 'Use the secondary subscription of the development server.', command: 'snapdisk account set --subscription "snapdisk secondary"' }],
  async run(ctx, args) {
    const wanted = args.need('subscription');
    const subs = (await ctx.subscriptions()) as SubscriptionWire[];
    const found = subs.find((s) => s.subscriptionId.toLowerCase() === wanted.toLowerCase()) ?? subs.find((s) => (s.displayName ?? '').toLowerCase() === wanted.toLowerCase());
    if (!found) {
      throw new CliError(`The subscription of '${wanted}' doesn't exist in cloud 'snapdisk'.`, {
        code: 'SubscriptionNotFound',
        hint: 'List the subscriptions you may use with `snapdisk account list -o table`.',
      });
    }
    const settings = ctx.store.load();
    settings.subscriptions = { ...(settings.subscriptions ?? {}), [ctx.connection().key]: found.subscriptionId };
    ctx.store.save(settings);
    return undefined;
  },
};
