/**
 * Data loss prevention (sharing-rules.md, "Data loss prevention"; seed 004's best practices): an
 * environment's policy classifies connectors as business, non-business or blocked. Pure functions of
 * the policy and a flow's connections; nothing here reads storage.
 *
 * Decisions:
 * - No policy (`dlp` absent) means no classification: nothing is refused or warned about.
 * - Under a policy, a connector it doesn't list is non-business: Power Platform puts unclassified
 *   connectors in the policy's default group, which is non-business unless an admin changes it.
 * - Only `embedded` connections count: an `other` connection is defined for the flow but not used in
 *   it (seed 004, "About embedded and other connections").
 * - Names compare case-insensitively, trimmed (`connectorKey`).
 */
import { connectorKey, type DlpClass, type DlpPolicy } from "../model/dlp.js";
import type { Connection } from "../model/records.js";

/** The class of one connector under a policy: listed, or non-business by default. */
export function classOf(policy: DlpPolicy, connector: string): DlpClass {
  const key = connectorKey(connector);
  for (const cls of ["blocked", "business", "nonBusiness"] as const)
    if ((policy[cls] ?? []).some((c) => connectorKey(c) === key)) return cls;
  return "nonBusiness";
}

/** The connectors a flow uses (its embedded connections), each once (first spelling kept), by class. */
export function usedConnectorsByClass(
  policy: DlpPolicy,
  connections: readonly Connection[] | undefined,
): Record<DlpClass, string[]> {
  const out: Record<DlpClass, string[]> = { business: [], nonBusiness: [], blocked: [] };
  const seen = new Set<string>();
  for (const c of connections ?? []) {
    if (c.usage !== "embedded" || seen.has(connectorKey(c.connector))) continue;
    seen.add(connectorKey(c.connector));
    out[classOf(policy, c.connector)].push(c.connector);
  }
  return out;
}

/** What makes a flow break its environment's policy, or undefined when it complies (or there is no policy). */
export interface DlpViolation {
  /** Blocked connectors the flow uses. */
  blocked: string[];
  /** When the flow mixes classes: its business and its non-business connectors (both non-empty); else empty. */
  business: string[];
  nonBusiness: string[];
  /** One sentence naming every connector at fault. */
  message: string;
}

export function dlpViolation(
  policy: DlpPolicy | undefined,
  connections: readonly Connection[] | undefined,
): DlpViolation | undefined {
  if (!policy) return undefined;
  const used = usedConnectorsByClass(policy, connections);
  const mixes = used.business.length > 0 && used.nonBusiness.length > 0;
  if (used.blocked.length === 0 && !mixes) return undefined;
  const list = (names: string[]) => names.map((n) => `"${n}"`).join(", ");
  const parts = [
    ...(used.blocked.length > 0
      ? [`it uses connector(s) the environment's data loss prevention policy blocks: ${list(used.blocked)}`]
      : []),
    ...(mixes
      ? [
          `it mixes business connector(s) ${list(used.business)} with non-business connector(s) ${list(used.nonBusiness)} (connectors the policy doesn't list are non-business)`,
        ]
      : []),
  ];
  return {
    blocked: used.blocked,
    business: mixes ? used.business : [],
    nonBusiness: mixes ? used.nonBusiness : [],
    message: `the flow breaks the environment's data loss prevention policy: ${parts.join("; and ")}`,
  };
}

/** The non-business connectors a flow uses under a policy (none without one): what makes sharing it with guests or run-only users risky. */
export function nonBusinessConnectors(
  policy: DlpPolicy | undefined,
  connections: readonly Connection[] | undefined,
): string[] {
  return policy ? usedConnectorsByClass(policy, connections).nonBusiness : [];
}
