// Lint rules: typescript-eslint strict-ish, plus the layering rule of docs/ARCHITECTURE.md
// (core imports nothing of ours; engine only core; backends only core; adapters never a backend).
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

const layer = (files, patterns) => ({
  files,
  rules: { 'no-restricted-imports': ['error', { patterns }] },
});

export default tseslint.config(
  { ignores: ['dist/**', 'node_modules/**', 'bin/**', '.snapdisk/**', 'coverage/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    files: ['**/*.ts'],
    languageOptions: { parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname } },
    rules: {
      '@typescript-eslint/no-explicit-any': 'error',
      '@typescript-eslint/no-non-null-assertion': 'error',
      '@typescript-eslint/consistent-type-imports': 'error',
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      curly: ['error', 'multi-line'],
    },
  },
  layer(['src/core/**/*.ts'], [
    { group: ['../engine/*', '../catalog/*', '../chunks/*', '../volumes/*', '../api/*', '../nbd/*', '../cli/*', '../app.js', 'node:fs', 'node:net', 'node:http', 'better-sqlite3'], message: 'core is pure: it imports nothing of the project and does no I/O.' },
  ]),
  layer(['src/engine/**/*.ts'], [
    { group: ['../catalog/*', '../chunks/*', '../volumes/*', '../api/*', '../nbd/*', '../cli/*', '../app.js', 'better-sqlite3', 'node:net', 'node:http'], message: 'engine depends on core and its ports only.' },
  ]),
  layer(['src/catalog/**/*.ts', 'src/chunks/**/*.ts', 'src/volumes/**/*.ts'], [
    { group: ['../../engine/*', '../engine/*', '../../api/*', '../../nbd/*', '../../cli/*'], message: 'backends implement core ports and import nothing above them.' },
  ]),
  layer(['src/api/**/*.ts', 'src/nbd/**/*.ts', 'src/cli/**/*.ts'], [
    { group: ['**/catalog/sqlite/*', '**/chunks/fs/*', '**/volumes/file/*', 'better-sqlite3'], message: 'adapters never construct a concrete backend: app.ts wires them.' },
  ]),
);
