import { defineConfig } from "vitest/config";

/**
 * Suites that load the machine on their own (a 50,000-member group, a 2,000-member fan-out killed
 * mid-way, the load run): each runs alone, after everything else, so none starves another's
 * storage past its 5 s request timeout on two cores.
 */
const heavy = ["test/e2e/groups.test.ts", "test/faults/fanoutCrash.test.ts", "test/load/load.test.ts"];

export default defineConfig({
  test: {
    // End-to-end suites start Azurite, the mail sink and a host child process: give them room.
    testTimeout: 60_000,
    hookTimeout: 120_000,
    teardownTimeout: 30_000,
    // Separate processes per test file, so the Functions library's process-wide state (its
    // cached core module, registered functions) never leaks between files, and a crashed file
    // cannot take the others' child processes with it.
    pool: "forks",
    // Two cores: two files at a time keeps Azurite-heavy suites from starving each other.
    maxWorkers: 2,
    // CI reads a plain "N passed, N failed" line, which .ci/run prints from this JSON report.
    reporters: process.env.CI ? ["default", "json"] : ["default"],
    outputFile: { json: "test-results/vitest.json" },
    projects: [
      {
        extends: true as const,
        test: { name: "main", include: ["test/**/*.test.ts"], exclude: heavy, sequence: { groupOrder: 0 } },
      },
      ...heavy.map((file, n) => ({
        extends: true as const,
        test: { name: file.replace(/^test\/|\.test\.ts$/g, ""), include: [file], sequence: { groupOrder: n + 1 } },
      })),
    ],
  },
});
