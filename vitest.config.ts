import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
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
  },
});
