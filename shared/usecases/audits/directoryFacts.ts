import {
  hasEnabledUserOwner,
  ownerGroups,
  usersToLookUp,
  type ResourceFacts,
  type UserFacts,
} from "../../rules/audit.js";
import type { EnvironmentDirectory } from "../../store/auditReads.js";
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

/**
 * What the audit knows of the directory: the environment's members with their facts and who is in
 * which group, read by range once per run step (`AuditReads.directory`). A user with no facts there
 * (not a member, say an embedded connection's owner, or a member row older than the facts) is read
 * from the tenant directory one at a time, in a bounded cache.
 */
export class DirectoryFacts {
  private readonly profiles: BoundedCache<string, Promise<UserFacts>>;
  /** Groups and lists with a member the directory partition shows enabled. */
  private readonly enabledGroups = new Set<string>();
  /** For each group, its members the directory partition has no facts of. */
  private readonly membersToLookUp = new Map<string, string[]>();

  private constructor(
    private readonly deps: Pick<Capabilities, "repo">,
    private readonly directory: EnvironmentDirectory,
    cacheSize: number,
  ) {
    this.profiles = new BoundedCache(cacheSize);
    for (const [userId, groupIds] of directory.groupsOf) {
      const facts = directory.members.get(userId);
      for (const groupId of groupIds) {
        if (facts?.enabled) this.enabledGroups.add(groupId);
        else if (!facts) {
          const unknown = this.membersToLookUp.get(groupId);
          if (unknown) unknown.push(userId);
          else this.membersToLookUp.set(groupId, [userId]);
        }
      }
    }
  }

  /** Reads the environment's directory partition by range. */
  static async read(
    deps: Pick<Capabilities, "repo" | "audits">,
    envId: string,
    cacheSize: number,
  ): Promise<DirectoryFacts> {
    return new DirectoryFacts(deps, await deps.audits.reads.directory(envId), cacheSize);
  }

  user(userId: string): UserFacts | Promise<UserFacts> {
    const groupIds = this.directory.groupsOf.get(userId) ?? [];
    const facts = this.directory.members.get(userId);
    const maker = this.directory.makers.has(userId);
    if (facts)
      return { known: true, enabled: facts.enabled, guest: facts.userType === "guest", groupIds, member: true, maker };
    return this.profiles.getOrAdd(userId, async () => {
      const user = await this.deps.repo.getUser(userId);
      return {
        known: user !== undefined,
        enabled: user?.enabled === true,
        guest: user?.userType === "guest",
        groupIds,
        // Not among the environment's member rows read above.
        member: this.directory.members.has(userId),
        maker,
      };
    });
  }

  async groupHasEnabledMember(groupId: string): Promise<boolean> {
    if (this.enabledGroups.has(groupId)) return true;
    for (const id of this.membersToLookUp.get(groupId) ?? []) if ((await this.user(id)).enabled) return true;
    return false;
  }

  /**
   * What the audit rules need about one resource: its users, then (only when no user owner is
   * enabled) its owner groups in order until one has an enabled member.
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
