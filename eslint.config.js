import { join } from "node:path";
import js from "@eslint/js";
import { createTypeScriptImportResolver } from "eslint-import-resolver-typescript";
import { importX } from "eslint-plugin-import-x";
import tseslint from "typescript-eslint";

export default tseslint.config(
  { ignores: ["dist/**", "dist-tools/**", "node_modules/**", "coverage/**"] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    rules: {
      "@typescript-eslint/no-unused-vars": ["error", { argsIgnorePattern: "^_", varsIgnorePattern: "^_" }],
      "@typescript-eslint/consistent-type-imports": "error",
    },
  },
  {
    // No module may reach itself through its imports: a cycle makes the load order decide whether a
    // binding is still undefined when it is read (the mailer once leaned on function hoisting for that).
    // The TypeScript resolver reads tsconfig.test.json, which covers every tree, so a `./x.js` specifier
    // resolves to `x.ts`. Type-only imports are erased (verbatimModuleSyntax) and are not counted.
    files: ["**/*.ts"],
    plugins: { "import-x": importX },
    settings: {
      // Without this the plugin follows imports into .js files only, so it would find no cycle here.
      "import-x/extensions": [".ts"],
      "import-x/resolver-next": [
        createTypeScriptImportResolver({ project: join(import.meta.dirname, "tsconfig.test.json") }),
      ],
    },
    rules: {
      "import-x/no-cycle": "error",
    },
  },
  {
    // The domain package imports nothing from Azure outside its adapters.
    files: ["shared/**/*.ts"],
    ignores: ["shared/adapters/**"],
    rules: {
      "no-restricted-imports": [
        "error",
        { patterns: [{ group: ["@azure/*"], message: "Only shared/adapters may import @azure/*." }] },
      ],
    },
  },
);
