/**
 * `npm run token -- --sub ID [--role R]... [--name NAME] [--expires-in SECONDS]` prints a development
 * token signed with `AUTH_DEV_SIGNING_KEY`, read like the host reads it (environment first, then
 * local.settings.json), so the running `npm start` accepts it.
 */
import { dirname } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { z } from "zod";
import { signDevToken } from "../shared/adapters/http/devToken.js";
import { findProjectRoot, loadLocalSettings } from "./settings.js";

const usage = "usage: npm run token -- --sub ID [--role ROLE]... [--name NAME] [--expires-in SECONDS]";

const argsSchema = z.object({
  sub: z.string({ error: "--sub is required" }).min(1, "--sub is required"),
  role: z.array(z.string().min(1)).default([]),
  name: z.string().min(1).optional(),
  "expires-in": z.coerce.number().int().positive().optional(),
});

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      sub: { type: "string" },
      role: { type: "string", multiple: true },
      name: { type: "string" },
      "expires-in": { type: "string" },
    },
    strict: true,
  });
  const parsed = argsSchema.safeParse(values);
  if (!parsed.success) throw new Error(`${parsed.error.issues.map((i) => i.message).join("; ")}\n${usage}`);

  const root = findProjectRoot(dirname(fileURLToPath(import.meta.url)));
  const file = process.env.LOCAL_SETTINGS_FILE;
  const settings = loadLocalSettings(root, file === undefined ? {} : { file: file === "none" ? null : file });
  const key = settings.AUTH_DEV_SIGNING_KEY;
  if (!key) throw new Error("AUTH_DEV_SIGNING_KEY is not set (environment or local.settings.json)");

  const args = parsed.data;
  const token = await signDevToken(key, {
    sub: args.sub,
    roles: args.role,
    ...(args.name !== undefined ? { name: args.name } : {}),
    ...(args["expires-in"] !== undefined ? { expiresInSeconds: args["expires-in"] } : {}),
  });
  // Only the token on stdout, so `$(npm run -s token -- --sub x)` works.
  process.stdout.write(token + "\n");
}

main().catch((error: unknown) => {
  process.stderr.write(`${error instanceof Error ? error.message : String(error)}\n`);
  process.exitCode = 1;
});
