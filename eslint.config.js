import js from '@eslint/js';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['node_modules/**', 'dist/**', 'coverage/**', '.scratch/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      'no-constant-condition': ['error', { checkLoops: false }],
    },
  },
  {
    // design.md: protocol/ runs in every runtime. The tsconfig already rejects Node and DOM
    // globals; this catches imports the type checker lets through (side-effect imports).
    files: ['protocol/**/*.ts'],
    ignores: ['protocol/**/*.test.ts'],
    rules: {
      'no-restricted-imports': ['error', { patterns: ['node:*', 'ws', '../relay/*', '../daemon/*', '../client/*', '../node/*', '../sw/*', '../page/*'] }],
    },
  },
  {
    // design.md: web/ is runtime-independent client logic (Node client and service worker alike).
    files: ['web/**/*.ts'],
    ignores: ['web/**/*.test.ts'],
    rules: {
      'no-restricted-imports': ['error', { patterns: ['node:*', 'ws', '../relay/*', '../daemon/*', '../client/*', '../node/*', '../sw/*', '../page/*'] }],
    },
  },
);
