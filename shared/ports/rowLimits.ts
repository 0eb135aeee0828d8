import { StorageLimitError } from "../errors.js";
import type { Row, WriteOp } from "./rows.js";

/**
 * The documented limits of Azure Table Storage that a row or a transaction must respect. Both
 * adapters check every write against them before anything is sent, so the in-memory fake refuses
 * exactly what Azure would, and a write Azure would refuse fails the same way on both.
 *
 * Sources (learn.microsoft.com):
 * - "Understanding the Table service data model" (rest/api/storageservices): a String property is
 *   UTF-16 and holds up to 64 KiB (Azure's and Azurite's message: "32K or less" characters, 32,768);
 *   at most 255 properties, the three system properties (PartitionKey, RowKey, Timestamp) among
 *   them, so 252 of our own; all of an entity's data at most 1 MiB; property names up to 255
 *   characters, following C# identifier rules; PartitionKey and RowKey "up to 1 KiB in size",
 *   without `/`, `\`, `#`, `?` or control characters U+0000–U+001F and U+007F–U+009F.
 * - "Scalability and performance targets for Table storage" (azure/storage/tables): an
 *   entity-group transaction holds at most 100 entities, each once, with a payload under 4 MiB.
 *   (That page says keys are strings "up to 1024 characters"; see `maxKeyChars`.)
 * - Entity size, "How the size of an entity is calculated in Windows Azure table storage"
 *   (archive/blogs/avkashchauhan): 4 bytes + Len(PartitionKey + RowKey) × 2 bytes + for each
 *   property (8 bytes + Len(name) × 2 bytes + the value's size), where a String is 4 bytes + 2 bytes
 *   a character, a Double or Int64 8 bytes, an Int32 4, a Boolean 1. Numbers are counted as 8 (the
 *   service stores an integer as Int32 and any other number as Double).
 */
export const tableLimits = {
  /** UTF-16 code units in one string property: 64 KiB. */
  maxStringChars: 32 * 1024,
  /** Bytes of one entity, as `entityBytes` counts them. */
  maxEntityBytes: 1024 * 1024,
  /** Properties of one row besides PartitionKey, RowKey and Timestamp. */
  maxUserProperties: 252,
  maxPropertyNameChars: 255,
  /**
   * UTF-16 code units in a PartitionKey or RowKey: 1 KiB of UTF-16. The two pages disagree (1 KiB,
   * or 1024 characters); Azurite 3.35 refuses keys over 512 characters (400 InvalidInput), so 512
   * is the limit that holds on Azure and on Azurite alike.
   */
  maxKeyChars: 512,
  maxTransactionOperations: 100,
  /** A transaction's payload must stay under this many bytes. */
  maxTransactionBytes: 4 * 1024 * 1024,
} as const;

/**
 * What one operation of a batch adds to the request besides its entity's JSON and its keys in the
 * URL: the changeset boundary, the request line with the table's address, and the headers. The SDK
 * sends about 300 bytes; a whole KiB leaves room for a long account address.
 */
const operationOverheadBytes = 1024;

/** Names the SDK maps onto system properties, and the system properties themselves. */
const reservedNames = new Set(["PartitionKey", "RowKey", "Timestamp", "partitionKey", "rowKey", "timestamp", "etag"]);
const propertyName = /^[A-Za-z_][A-Za-z0-9_]*$/;

/** The size Azure documents for an entity with these keys and fields (see the sources above). */
export function entitySize(pk: string, rk: string, fields: Row["fields"]): number {
  let size = 4 + (pk.length + rk.length) * 2;
  for (const [name, value] of Object.entries(fields)) {
    size +=
      8 + name.length * 2 + (typeof value === "string" ? 4 + value.length * 2 : typeof value === "boolean" ? 1 : 8);
  }
  return size;
}

/** The entity as the request body carries it: UTF-8 JSON, where a control character takes 6 bytes and most other text up to 3. */
function bodyBytes(pk: string, rk: string, fields: Row["fields"]): number {
  return Buffer.byteLength(JSON.stringify({ PartitionKey: pk, RowKey: rk, ...fields }), "utf8");
}

/**
 * What counts against an entity's 1 MiB: the documented size, or its request body if larger.
 * Azurite refuses an update whose JSON body is over 1 MiB (EntityTooLarge), which text outside
 * ASCII reaches before the formula does; counting both keeps the fake and Azurite in agreement.
 */
export function entityBytes(pk: string, rk: string, fields: Row["fields"]): number {
  return Math.max(entitySize(pk, rk, fields), bodyBytes(pk, rk, fields));
}

/** The bytes one operation takes in a batch request: its body, its keys percent-encoded in the URL, and the part's headers. */
export function operationBytes(pk: string, rk: string, fields: Row["fields"] | undefined): number {
  const inUrl = (k: string) => encodeURIComponent(k.replace(/'/g, "''")).length;
  return operationOverheadBytes + inUrl(pk) + inUrl(rk) + (fields ? bodyBytes(pk, rk, fields) : 0);
}

/**
 * What counts against a transaction's 4 MiB: for each operation, the larger of its entity's
 * documented size and its bytes in the request (the service may count either; both must fit).
 */
export function transactionBytes(pk: string, ops: readonly WriteOp[]): number {
  let total = 0;
  for (const o of ops) {
    const fields = o.op === "delete" ? undefined : o.fields;
    total += Math.max(fields ? entitySize(pk, o.rk, fields) : 0, operationBytes(pk, o.rk, fields));
  }
  return total;
}

/** The first character a key may not hold, if any: the documented ones, or half of a surrogate pair (a URL can't carry it). */
function badKeyCharacter(key: string): string | undefined {
  for (let i = 0; i < key.length; i++) {
    const c = key.charCodeAt(i);
    if (c === 0x2f || c === 0x5c || c === 0x23 || c === 0x3f) return key[i];
    if (c <= 0x1f || (c >= 0x7f && c <= 0x9f)) return `U+${c.toString(16).toUpperCase().padStart(4, "0")}`;
    if (c >= 0xd800 && c <= 0xdbff) {
      const next = key.charCodeAt(i + 1);
      if (next >= 0xdc00 && next <= 0xdfff) {
        i++;
        continue;
      }
      return "a lone surrogate";
    }
    if (c >= 0xdc00 && c <= 0xdfff) return "a lone surrogate";
  }
  return undefined;
}

/** Throws StorageLimitError unless both keys are ones Azure Tables accepts. */
export function checkKeys(table: string, pk: string, rk: string): void {
  for (const [which, key] of [
    ["PartitionKey", pk],
    ["RowKey", rk],
  ] as const) {
    if (key.length > tableLimits.maxKeyChars) {
      throw new StorageLimitError(
        "keyLength",
        table,
        { pk, rk },
        `the ${which} has ${key.length} characters, more than ${tableLimits.maxKeyChars}`,
      );
    }
    const bad = badKeyCharacter(key);
    if (bad !== undefined) {
      throw new StorageLimitError("keyCharacter", table, { pk, rk }, `the ${which} holds ${JSON.stringify(bad)}`);
    }
  }
}

/** Throws StorageLimitError unless Azure Tables would store this row as it is. */
export function checkRow(table: string, pk: string, rk: string, fields: Row["fields"]): void {
  checkKeys(table, pk, rk);
  const names = Object.keys(fields);
  if (names.length > tableLimits.maxUserProperties) {
    throw new StorageLimitError(
      "propertyCount",
      table,
      { pk, rk },
      `the row has ${names.length} properties, more than ${tableLimits.maxUserProperties}`,
    );
  }
  for (const [name, value] of Object.entries(fields)) {
    if (name.length > tableLimits.maxPropertyNameChars || !propertyName.test(name) || reservedNames.has(name)) {
      throw new StorageLimitError(
        "propertyName",
        table,
        { pk, rk, property: name },
        "a property name is a letter or `_` then letters, digits or `_`, at most 255, and not a system property's",
      );
    }
    if (typeof value === "string" && value.length > tableLimits.maxStringChars) {
      throw new StorageLimitError(
        "propertyValue",
        table,
        { pk, rk, property: name },
        `the value has ${value.length} characters, more than ${tableLimits.maxStringChars}`,
      );
    }
  }
  const size = entityBytes(pk, rk, fields);
  if (size > tableLimits.maxEntityBytes) {
    throw new StorageLimitError(
      "entitySize",
      table,
      { pk, rk },
      `the row takes ${size} bytes, more than ${tableLimits.maxEntityBytes}`,
    );
  }
}

/** Throws StorageLimitError unless Azure Tables would accept this entity-group transaction. */
export function checkTransaction(table: string, pk: string, ops: readonly WriteOp[]): void {
  if (ops.length > tableLimits.maxTransactionOperations) {
    throw new StorageLimitError(
      "transactionOperations",
      table,
      { pk },
      `the transaction has ${ops.length} operations, more than ${tableLimits.maxTransactionOperations}`,
    );
  }
  const seen = new Set<string>();
  for (const o of ops) {
    if (seen.has(o.rk)) {
      throw new StorageLimitError(
        "transactionDuplicateRow",
        table,
        { pk, rk: o.rk },
        "the transaction names a row twice",
      );
    }
    seen.add(o.rk);
    if (o.op === "delete") checkKeys(table, pk, o.rk);
    else checkRow(table, pk, o.rk, o.fields);
  }
  const bytes = transactionBytes(pk, ops);
  if (bytes >= tableLimits.maxTransactionBytes) {
    throw new StorageLimitError(
      "transactionSize",
      table,
      { pk },
      `the transaction takes ${bytes} bytes, not under ${tableLimits.maxTransactionBytes}`,
    );
  }
}
