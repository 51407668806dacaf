// ESLint for Vigil: type-aware typescript-eslint rules, and the import boundaries of ARCHITECTURE.md.
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

const nodeBuiltins = ['node:*', 'fs', 'fs/*', 'net', 'http', 'https', 'child_process', 'os', 'dgram', 'tls'];

/** Import patterns a folder may not use, by folder. */
const boundaries = {
  'core/**/*.ts': {
    patterns: [
      { group: nodeBuiltins, message: 'core/ is pure: no file system, network or timers.' },
      {
        group: ['**/agent/**', '**/collector/**', '**/cli/**', '**/proto/**'],
        message: 'core/ imports only itself.',
      },
    ],
  },
  'agent/**/*.ts': {
    patterns: [
      { group: ['**/collector/**', '**/cli/**'], message: 'agent/ never imports collector/ or cli/.' },
    ],
  },
  'collector/**/*.ts': {
    patterns: [{ group: ['**/agent/**', '**/cli/**'], message: 'collector/ never imports agent/ or cli/.' }],
  },
};

export default tseslint.config(
  { ignores: ['dist/**', '.build-*/**', 'node_modules/**', '**/*.mjs'] },
  js.configs.recommended,
  ...tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: {
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
    rules: {
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/consistent-type-imports': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_' }],
      'no-console': 'error',
    },
  },
  ...Object.entries(boundaries).map(([files, rule]) => ({
    files: [files],
    // Unit tests beside the code may use node:assert and fixtures; the boundary is for shipped code.
    ignores: ['**/*.test.ts'],
    rules: { 'no-restricted-imports': ['error', rule] },
  })),
  {
    // The CLI and the tests talk to people: console output is their job.
    files: ['cli/**/*.ts', 'test/**/*.ts', '**/*.test.ts'],
    rules: { 'no-console': 'off' },
  },
);
