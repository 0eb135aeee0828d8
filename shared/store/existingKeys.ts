import { queryAll, type RowStore } from "../ports/rows.js";

/** Row keys named in one `eq` query: short enough for a request URL, many enough to be worth it. */
export const keysPerQuery = 50;

/**
 * Which of these rows exist: grouped by partition, one query per 50 row keys, 16 queries in flight.
 * Returns `pk|rk` of each row found (ids hold no `|`).
 */
export async function existingKeys(
  rows: RowStore,
  table: string,
  wanted: readonly { pk: string; rk: string }[],
): Promise<Set<string>> {
  const byPk = new Map<string, string[]>();
  for (const { pk, rk } of wanted) byPk.set(pk, [...(byPk.get(pk) ?? []), rk]);
  const queries: { pk: string; rks: string[] }[] = [];
  for (const [pk, rks] of byPk)
    for (let i = 0; i < rks.length; i += keysPerQuery) queries.push({ pk, rks: rks.slice(i, i + keysPerQuery) });
  const found = new Set<string>();
  let next = 0;
  const worker = async () => {
    while (next < queries.length) {
      const q = queries[next++]!;
      const page = await queryAll(
        rows,
        table,
        q.pk,
        q.rks.map((eq) => ({ eq })),
      );
      for (const r of page) found.add(`${r.pk}|${r.rk}`);
    }
  };
  await Promise.all(Array.from({ length: Math.min(16, queries.length) }, worker));
  return found;
}
