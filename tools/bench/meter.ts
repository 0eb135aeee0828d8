/**
 * Counts storage requests with the Tables adapter's `onRequest` hook, by kind (point read, query,
 * batch, delete) and table, between `start()` and `stop()`.
 */
export class RequestMeter {
  private on = false;
  private counts = new Map<string, number>();
  private phase = "";
  total = 0;

  /** The hook to hand to `AzureRowStore` as `onRequest`. */
  readonly onRequest = (method: string, url: string): void => {
    if (!this.on) return;
    const key = `${this.phase}${describeRequest(method, url)}`;
    this.counts.set(key, (this.counts.get(key) ?? 0) + 1);
    this.total++;
  };

  start(): void {
    this.on = true;
    this.counts = new Map();
    this.total = 0;
    this.phase = "";
  }

  /** Prefixes what is counted from now on (e.g. "relay: "), to split one operation's requests. */
  setPhase(phase: string): void {
    this.phase = phase;
  }

  stop(): Map<string, number> {
    this.on = false;
    return this.counts;
  }
}

/** `GET Resources (query)`, `GET Principals (point)`, `POST $batch`, `DELETE Resources`, … */
export function describeRequest(method: string, url: string): string {
  const u = new URL(url);
  const last = decodeURIComponent(u.pathname.split("/").pop() ?? "");
  if (last === "$batch") return `${method} $batch`;
  const table = last.replace(/\(.*$/, "").replace(/^bench[a-z0-9]*/, "");
  if (method === "GET") return /\(PartitionKey=/.test(last) ? `GET ${table} (point)` : `GET ${table} (query)`;
  return `${method} ${table}`;
}

/** `{ "GET Resources (query)": 1, ... }` as one short line. */
export function formatCounts(counts: Map<string, number>, runs: number): string {
  return [...counts.entries()]
    .sort((a, b) => (a[0] < b[0] ? -1 : 1))
    .map(([k, v]) => `${k} ×${+(v / runs).toFixed(2)}`)
    .join(", ");
}
