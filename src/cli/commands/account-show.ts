/**
 * @module cli/commands/account-show
 * `snapdisk account show`: the subscription in effect, in az's shape.
 */

import { accountEntry } from '../account.js';
import type { SubscriptionWire } from '../account.js';
import { API } from '../arm.js';
import type { CommandSpec } from '../command.js';

export const accountShow: CommandSpec = {
  name: 'account show',
  summary: 'Get the details of a subscription (default: the one in effect).',
  options: [{ name: '--subscription', aliases: ['-s', '--name', '-n'], kind: 'string', metavar: 'ID', help: 'Name or ID of subscription (default: the one in effect).' }],
  examples: [
    { title: 'Show the subscription in effect.', command: 'snapdisk account show' },
    { title: 'Show its id only.', command: 'snapdisk account show --query id -o tsv' },
    { title: 'Show another subscription by name.', command: 'snapdisk account show -s "snapdisk secondary"' },
  ],
  async run(ctx, args) {
    const wanted = args.str('subscription');
    const current = await ctx.defaultSubscription();
    const id = wanted !== undefined ? (await ctx.findSubscription(wanted, false)).subscriptionId : current;
    const s = await ctx.arm().get<SubscriptionWire>(`/subscriptions/${encodeURIComponent(id)}`, API.subscriptions);
    return accountEntry(ctx, s, s.subscriptionId === current, 'environmentName');
  },
};
