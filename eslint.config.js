// Lint for the whole workspace: typescript-eslint's recommended rules, with the type-aware ones
// that catch real bugs in daemons (promises nobody awaits or handles).
import tseslint from 'typescript-eslint';

export default tseslint.config(
  {
    ignores: [
      '**/dist/**',
      '**/node_modules/**',
      '**/build/**',
      'packages/capture/index.cjs',
      'packages/capture/index.d.ts',
    ],
  },
  ...tseslint.configs.recommended,
  {
    files: ['**/*.ts'],
    languageOptions: { parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname } },
    rules: {
      // node:test tracks what test() and describe() return: nothing to await there.
      '@typescript-eslint/no-floating-promises': [
        'error',
        {
          allowForKnownSafeCalls: [
            { from: 'package', name: ['test', 'describe', 'it', 'suite'], package: 'node:test' },
          ],
        },
      ],
      '@typescript-eslint/no-misused-promises': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_' }],
      // A `let` a callback reads before it is assigned (a cleanup registered first) stays a let.
      'prefer-const': ['error', { ignoreReadBeforeAssign: true }],
    },
  },
);
