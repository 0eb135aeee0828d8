import type { Group } from "../../model/records.js";
import {
  hasEnabledUserOwner,
  ownerGroups,
  usersToLookUp,
  type ResourceFacts,
  type UserFacts,
} from "../../rules/audit.js";
import type { ResourceState } from "../../store/repository.js";
import type { Capabilities } from "../capabilities.js";

/** A map that forgets its least recently used entries past a size: memory stays bounded whatever the tenant's size. */
export class BoundedCache<K, V> {
  private readonly map = new Map<K, V>();
  constructor(readonly max: number) {}
  get size(): number {
    return this.map.size;
  }
  getOrAdd(key: K, make: () => V): V {
    const hit = this.map.get(key);
    if (hit !== undefined) {
      this.map.delete(key);
      this.map.set(key, hit);
      return hit;
    }
    const value = make();
    this.map.set(key, value);
    if (this.map.size > this.max) this.map.delete(this.map.keys().next().value as K);
    return value;
  }
}

/** Profiles, group memberships and groups as the audit needs them, read once each while they stay cached. */
export class DirectoryFacts {
  readonly users: BoundedCache<string, Promise<UserFacts>>;
  readonly groups: BoundedCache<string, Promise<Group | undefined>>;
  constructor(
    private readonly deps: Pick<Capabilities, "repo">,
    private readonly envId: string,
    size: number,
  ) {
    this.users = new BoundedCache(size);
    this.groups = new BoundedCache(Math.max(100, Math.floor(size / 10)));
  }
  user(userId: string): Promise<UserFacts> {
    return this.users.getOrAdd(userId, async () => {
      const ctx = await this.deps.repo.principalContext(this.envId, userId);
      return {
        known: ctx.user !== undefined,
        enabled: ctx.user?.enabled === true,
        guest: ctx.user?.userType === "guest",
        groupIds: ctx.memberOf.map((m) => m.id),
      };
    });
  }
  group(groupId: string): Promise<Group | undefined> {
    return this.groups.getOrAdd(groupId, async () => (await this.deps.repo.getGroup(this.envId, groupId))?.group);
  }
  async groupHasEnabledMember(groupId: string): Promise<boolean> {
    if (!(await this.group(groupId))) return false;
    for (const id of await this.deps.repo.groups.allMembers(this.envId, groupId))
      if ((await this.user(id)).enabled) return true;
    return false;
  }

  /**
   * What the audit rules need about one resource, read one at a time: its users, then (only when no
   * user owner is enabled) its owner groups in order until one has an enabled member.
   */
  async of(state: ResourceState): Promise<ResourceFacts> {
    const users = new Map<string, UserFacts>();
    for (const id of usersToLookUp(state.resource, state.grants)) users.set(id, await this.user(id));
    const groupsWithEnabledMember = new Set<string>();
    if (!hasEnabledUserOwner(state.grants, users)) {
      for (const id of ownerGroups(state.grants)) {
        if (await this.groupHasEnabledMember(id)) {
          groupsWithEnabledMember.add(id);
          break;
        }
      }
    }
    return { users, groupsWithEnabledMember };
  }
}
