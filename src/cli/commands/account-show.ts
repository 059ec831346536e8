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
  options: [],
  examples: [
    { title: 'Show the subscription in effect.', command: 'snapdisk account show' },
    { title: 'Show its id only.', command: 'snapdisk account show --query id -o tsv' },
  ],
  async run(ctx) {
    const id = await ctx.subscription();
    const s = await ctx.arm().get<SubscriptionWire>(`/subscriptions/${encodeURIComponent(id)}`, API.subscriptions);
    return accountEntry(ctx, s, true, 'environmentName');
  },
};
