import js from "@eslint/js";
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
