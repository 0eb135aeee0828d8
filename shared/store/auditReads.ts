import { z } from "zod";
import { directoryMemberSchema, type MemberFacts } from "../model/memberFacts.js";
import { grantSchema, principalRefSchema, type Grant } from "../model/records.js";
import type { RowStore } from "../ports/rows.js";
import { keys, type TableNames } from "./keys.js";
import { ownerCapableRoles } from "../rules/successor.js";
import { metaSchema, type ResourceState } from "./repository.js";
import { decodeRow } from "./rowJson.js";

/** The environment's members and who is in which group, as an audit needs them. */
export interface EnvironmentDirectory {
  /** Each member's facts; undefined for a member row written before member rows carried them. */
  members: Map<string, MemberFacts | undefined>;
  /** The ids of the groups and lists each user is in (`ug|{userId}|{groupId}` rows), members or not. */
  groupsOf: Map<string, string[]>;
  /** The members holding a maker role (EnvironmentMaker or SystemAdministrator), from the same member rows. */
  makers: Set<string>;
}

/** One page of the environment's resources: the ones whose rows ended on it, and where to resume after it. */
export interface ResourcePage {
  resources: ResourceState[];
  /** Undefined after the last page. */
  cursor: string | undefined;
  /**
   * False while the cursor would resume where this walk started: the resource it started in is
   * still open (it runs on past this page), so stopping here would read the same pages again.
   */
  progressed: boolean;
}

/**
 * Where a walk of the resources range resumes: the scan's continuation, with the first partition of
 * the scan it belongs to; or, when a page ended inside a resource, that resource's partition, read
 * again from its first row.
 */
const resourceCursorSchema = z.object({ fromPk: z.string().optional(), next: z.string().optional() });
type ResourceCursor = z.infer<typeof resourceCursorSchema>;

/** Whether a cursor is one `resourcePages` gave out (an audit left by an older version holds another kind). */
export function isResourceCursor(cursor: string): boolean {
  try {
    return resourceCursorSchema.safeParse(JSON.parse(cursor)).success;
  } catch {
    return false;
  }
}

/**
 * What an audit reads, by range, so its requests grow with pages and not with the number of
 * resources or users: the environment's directory partition (members with their facts, group
 * memberships), then every `{envId}|{resourceId}` partition of the Resources table in one scan.
 */
export class AuditReads {
  constructor(
    private readonly rows: RowStore,
    private readonly tables: TableNames,
  ) {}

  /** The `member|` rows of the environment's directory partition and the `ug|` rows of its membership buckets, paged. */
  async directory(envId: string): Promise<EnvironmentDirectory> {
    const members = new Map<string, MemberFacts | undefined>();
    const groupsOf = new Map<string, string[]>();
    const makers = new Set<string>();
    // Most members share one of four facts: one object each keeps memory at a map entry per member.
    const shared = new Map<string, MemberFacts>();
    const readMembers = async () => {
      let continuation: string | undefined;
      do {
        const page = await this.rows.queryPage(
          this.tables.directory,
          keys.directoryPk(envId),
          [{ prefix: keys.envMemberPrefix }],
          { continuation },
        );
        for (const row of page.rows) {
          const { userId, facts: profileFacts, suspended, securityRoles } = decodeRow(directoryMemberSchema, row);
          if (securityRoles.some((r) => ownerCapableRoles.includes(r))) makers.add(userId);
          // A member suspended by provisioning counts as disabled here: no enabled owner, as a leaver.
          const facts = profileFacts && suspended === true ? { ...profileFacts, enabled: false } : profileFacts;
          const key = facts && `${facts.enabled}|${facts.userType}`;
          if (key && !shared.has(key)) shared.set(key, facts);
          members.set(userId, key ? shared.get(key) : undefined);
        }
        continuation = page.continuation;
      } while (continuation);
    };
    // The groups each user is in: the `ug|` rows of every membership bucket, one range scan.
    const readGroups = async () => {
      let continuation: string | undefined;
      do {
        const page = await this.rows.scanRange(
          this.tables.directory,
          { pkPrefix: keys.memberBucketPrefix(envId) },
          [{ prefix: keys.userGroupsPrefix }],
          { continuation },
        );
        for (const row of page.rows) {
          const userId = row.rk.slice(keys.userGroupsPrefix.length).split("|")[0]!;
          const group = decodeRow(principalRefSchema, row);
          const groups = groupsOf.get(userId);
          if (groups) groups.push(group.id);
          else groupsOf.set(userId, [group.id]);
        }
        continuation = page.continuation;
      } while (continuation);
    };
    await Promise.all([readMembers(), readGroups()]);
    return { members, groupsOf, makers };
  }

  /**
   * The environment's resources, meta and grants, from `cursor` on, a page of rows at a time (the
   * prefix ends with the separator, so `env1` never reads `env10`'s). Within a partition
   * every `grant|` row sorts before `meta`, so a resource is whole when its meta row arrives; one
   * whose rows go on past a page's end is carried to the next page, and the cursor given with the
   * page re-reads it whole (so a walk must not stop before it has finished a resource). The next
   * page is read while the consumer works on this one. Deleted resources (a tombstone meta) and grants without a meta row are
   * skipped, as `resourceState` does.
   */
  async *resourcePages(envId: string, cursor: string | undefined, pageSize: number): AsyncGenerator<ResourcePage> {
    const start: ResourceCursor = cursor ? resourceCursorSchema.parse(JSON.parse(cursor)) : {};
    const partitions = { pkPrefix: keys.resourcesPrefix(envId), fromPk: start.fromPk };
    const read = (continuation: string | undefined) => {
      const page = this.rows.scanRange(
        this.tables.resources,
        partitions,
        [{ eq: keys.metaRk }, { prefix: keys.grantPrefix }],
        { continuation, pageSize },
      );
      // Awaited on the next step; a walk that stops before then leaves it, failed or not.
      page.catch(() => undefined);
      return page;
    };
    let next = read(start.next);
    let continuation: string | undefined;
    let open: { pk: string; grants: Grant[] } | undefined;
    let finished = false;
    do {
      const page = await next;
      continuation = page.continuation;
      // The next page is asked for now: storage reads it while this one is audited and recorded.
      if (continuation) next = read(continuation);
      const resources: ResourceState[] = [];
      for (const row of page.rows) {
        if (open?.pk !== row.pk) {
          if (open) finished = true; // grants left without a meta row: skipped, which moves on too
          open = { pk: row.pk, grants: [] };
        }
        if (row.rk !== keys.metaRk) {
          open.grants.push(decodeRow(grantSchema, row));
          continue;
        }
        const meta = decodeRow(metaSchema, row);
        if (!("deleted" in meta)) resources.push({ resource: meta, etag: row.etag ?? "*", grants: open.grants });
        open = undefined;
        finished = true;
      }
      const resume: ResourceCursor | undefined = !continuation
        ? undefined
        : open
          ? { fromPk: open.pk }
          : { ...(partitions.fromPk !== undefined ? { fromPk: partitions.fromPk } : {}), next: continuation };
      yield { resources, cursor: resume && JSON.stringify(resume), progressed: finished || !open };
    } while (continuation);
  }
}
