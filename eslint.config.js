// @ts-check
import tseslint from 'typescript-eslint';

/**
 * `npm run lint`: typescript-eslint with the type-aware rules over the service, the drivers, the
 * tests, the scripts and the console. Formatting is Prettier's (`npm run format`), not ESLint's.
 */
export default tseslint.config(
  { ignores: ['**/node_modules/**', '**/dist/**', 'ui/dist/**', 'data/**', '**/generated/**', 'connectors/sailpoint-isc/**', 'coverage/**'] },
  ...tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: {
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
  },
  {
    // Tests, fakes' levers and benchmarks read JSON answers as `any` on purpose (an assertion
    // then checks the shape); the unsafe-any rules are for the code that ships.
    files: ['test/**', '**/*.test.ts', 'scripts/**', 'connectors/*/harness.ts'],
    rules: {
      '@typescript-eslint/no-explicit-any': 'off',
      '@typescript-eslint/no-unsafe-member-access': 'off',
      '@typescript-eslint/no-unsafe-assignment': 'off',
      '@typescript-eslint/no-unsafe-call': 'off',
      '@typescript-eslint/no-unsafe-argument': 'off',
      '@typescript-eslint/no-unsafe-return': 'off',
      '@typescript-eslint/require-await': 'off',
      '@typescript-eslint/unbound-method': 'off',
    },
  },
  {
    rules: {
      // Deliberate patterns here, not defects: String(x) of unknown input in messages and fakes;
      // async methods that implement an async contract without awaiting (drivers, handlers);
      // gRPC enums compared with their wire numbers; numbers and unknowns in message templates;
      // methods passed as callbacks that do not use `this`; union types that document intent.
      '@typescript-eslint/no-base-to-string': 'off',
      '@typescript-eslint/require-await': 'off',
      '@typescript-eslint/no-unsafe-enum-comparison': 'off',
      '@typescript-eslint/restrict-template-expressions': 'off',
      '@typescript-eslint/unbound-method': 'off',
      '@typescript-eslint/no-redundant-type-constituents': 'off',
      // `_name` marks what is unused on purpose (destructuring something away)
      '@typescript-eslint/no-unused-vars': [
        'error',
        { argsIgnorePattern: '^_', varsIgnorePattern: '^_', destructuredArrayIgnorePattern: '^_', ignoreRestSiblings: true },
      ],
    },
  },
  { files: ['**/*.js', '**/*.mjs', 'ui/vite.config.ts'], ...tseslint.configs.disableTypeChecked },
);
