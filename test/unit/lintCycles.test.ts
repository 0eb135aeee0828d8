import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { ESLint } from "eslint";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

// The repo's own lint config, run on two small modules written into shared/ (where the rule applies to
// real code), once importing each other and once not. The cycle and the acyclic pair use different
// file names, so nothing the plugin caches about one pair can answer for the other.

const repoRoot = fileURLToPath(new URL("../../", import.meta.url));
let dir: string;
let eslint: ESLint;

beforeAll(() => {
  dir = mkdtempSync(join(repoRoot, "shared", "lint-cycle-test-"));
  const write = (name: string, text: string) => writeFileSync(join(dir, name), text);
  write("tableA.ts", 'import { kindA } from "./kindA.js";\n\nexport const tableA = { kindA };\n');
  write("kindA.ts", 'import { tableA } from "./tableA.js";\n\nexport const kindA = () => Object.keys(tableA);\n');
  write("tableB.ts", 'import { kindB } from "./kindB.js";\n\nexport const tableB = { kindB };\n');
  write("kindB.ts", 'export const kindB = () => "kindB";\n');
  eslint = new ESLint({ cwd: repoRoot });
});

afterAll(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

const lint = async (...names: string[]) => {
  const results = await eslint.lintFiles(names.map((n) => join(dir, n)));
  return results.flatMap((r) => r.messages.map((m) => ({ file: r.filePath.slice(dir.length + 1), rule: m.ruleId })));
};

describe("the lint's import-cycle rule", () => {
  it("fails on two modules that import each other, on both sides", async () => {
    expect(await lint("tableA.ts", "kindA.ts")).toEqual([
      { file: "tableA.ts", rule: "import-x/no-cycle" },
      { file: "kindA.ts", rule: "import-x/no-cycle" },
    ]);
  });

  it("says nothing when the same modules import only one way", async () => {
    expect(await lint("tableB.ts", "kindB.ts")).toEqual([]);
  });
});
