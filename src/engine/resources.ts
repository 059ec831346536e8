/**
 * @module engine/resources
 * Subscriptions and resource groups: the scopes every disk and snapshot lives in.
 */

import { SnapdiskError } from '../core/errors.js';
import type { ResourceGroup, ResourceKey, Subscription } from '../core/model.js';
import { UniqueViolation } from '../core/ports.js';
import { validateResourceGroupName } from '../core/rules.js';
import type { EngineContext } from './context.js';

export class Resources {
  constructor(private readonly ctx: EngineContext) {}

  async ensureSubscription(s: Subscription): Promise<void> {
    await this.ctx.catalog.putSubscription({ ...s, subscriptionId: s.subscriptionId.toLowerCase() });
  }

  async requireSubscription(id: string): Promise<Subscription> {
    const s = await this.ctx.catalog.getSubscription(id);
    if (!s) {
      throw new SnapdiskError('SubscriptionNotFound', `The subscription '${id}' could not be found.`, {
        hint: 'List the subscriptions you can use with: az account list',
      });
    }
    return s;
  }

  listSubscriptions(): Promise<Subscription[]> {
    return this.ctx.catalog.listSubscriptions();
  }

  async requireGroup(subscriptionId: string, name: string): Promise<ResourceGroup> {
    await this.requireSubscription(subscriptionId);
    const g = await this.ctx.catalog.getResourceGroup(subscriptionId, name);
    if (!g) {
      throw new SnapdiskError('ResourceGroupNotFound', `Resource group '${name}' could not be found.`, {
        hint: `Create it first: az group create -n ${name} -l <location>`,
      });
    }
    return g;
  }

  async findGroup(subscriptionId: string, name: string): Promise<ResourceGroup | null> {
    await this.requireSubscription(subscriptionId);
    return this.ctx.catalog.getResourceGroup(subscriptionId, name);
  }

  /** PUT: creates the group, or updates its tags (its location cannot change). */
  async putGroup(
    subscriptionId: string,
    name: string,
    location: string,
    tags: Record<string, string> = {},
  ): Promise<{ group: ResourceGroup; created: boolean }> {
    validateResourceGroupName(name);
    await this.requireSubscription(subscriptionId);
    const loc = location.toLowerCase().replace(/\s+/g, '');
    this.ctx.region(loc);
    const existing = await this.ctx.catalog.getResourceGroup(subscriptionId, name);
    if (existing) {
      if (existing.location !== loc) {
        throw new SnapdiskError(
          'InvalidParameter',
          `Resource group '${name}' already exists in location '${existing.location}'; its location cannot change to '${loc}'.`,
          { target: 'location' },
        );
      }
      const group: ResourceGroup = { ...existing, tags };
      await this.ctx.catalog.putResourceGroup(group);
      return { group, created: false };
    }
    const group: ResourceGroup = {
      subscriptionId: subscriptionId.toLowerCase(),
      name,
      location: loc,
      tags,
      provisioningState: 'Succeeded',
      createdAt: this.ctx.nowIso(),
    };
    await this.ctx.catalog.putResourceGroup(group);
    return { group, created: true };
  }

  listGroups(subscriptionId: string): Promise<ResourceGroup[]> {
    return this.ctx.catalog.listResourceGroups(subscriptionId);
  }

  async markDeleting(subscriptionId: string, name: string): Promise<ResourceGroup> {
    const g = await this.requireGroup(subscriptionId, name);
    const deleting: ResourceGroup = { ...g, provisioningState: 'Deleting' };
    await this.ctx.catalog.putResourceGroup(deleting);
    return deleting;
  }

  /** Puts a group back to Succeeded after a deletion that could not finish. */
  async markSucceeded(subscriptionId: string, name: string): Promise<void> {
    const g = await this.requireGroup(subscriptionId, name);
    if (g.provisioningState !== 'Succeeded') await this.ctx.catalog.putResourceGroup({ ...g, provisioningState: 'Succeeded' });
  }

  /** A group that can take new resources: exists and is not being deleted. */
  async requireWritableGroup(subscriptionId: string, name: string): Promise<ResourceGroup> {
    const g = await this.requireGroup(subscriptionId, name);
    if (g.provisioningState === 'Deleting') {
      throw new SnapdiskError('Conflict', `Resource group '${g.name}' is being deleted and cannot take new resources.`, {
        hint: 'Wait for the deletion to finish, then create the group again.',
      });
    }
    return g;
  }

  async removeGroup(subscriptionId: string, name: string): Promise<void> {
    await this.ctx.catalog.deleteResourceGroup(subscriptionId, name);
  }
}

/** The key of a resource name within its group (names are case-insensitive in ARM). */
export function nameKey(key: ResourceKey): string {
  return `${key.subscriptionId}|${key.resourceGroup}|${key.name}`.toLowerCase();
}

/**
 * The catalog refused a new row because the name is taken (a request on another node, or a move
 * into the group, created it first): a 409 that says so instead of a driver error.
 */
export function nameTaken(err: unknown, kind: 'disk' | 'snapshot', key: ResourceKey): SnapdiskError | null {
  if (!(err instanceof UniqueViolation && err.nameKey)) return null;
  return new SnapdiskError('Conflict', `A ${kind} named ${key.name} was created in resource group ${key.resourceGroup} by a concurrent request.`, {
    hint: 'Send the PUT again: it updates the existing one.',
    cause: err,
  });
}
