/**
 * @module cli/commands/logout
 * `snapdisk logout`: forget the saved login (and cached tokens); commands then use the local
 * development server again.
 */

import type { CommandSpec } from '../command.js';

export const logout: CommandSpec = {
  name: 'logout',
  summary: 'Forget the saved login; commands go back to the local development server.',
  options: [],
  examples: [{ title: 'Log out.', command: 'snapdisk logout' }],
  run(ctx) {
    const settings = ctx.store.load();
    if (!settings.login) ctx.log.warn('Not logged in: commands already use the local development server.');
    delete settings.login;
    ctx.store.save(settings);
    ctx.store.clearTokens();
    return Promise.resolve(undefined);
  },
};
