import neostandard from 'neostandard'

export default [
  ...neostandard({ ts: true, ignores: ['dist/**', 'coverage/**', 'src/parse/generated/**', '.local/**', 'node_modules/**', 'test/artifacts/**'] }),
  {
    rules: {
      // House convention: an `as const` object and the union type derived from it share one name.
      '@typescript-eslint/no-redeclare': 'off',
    },
  },
]
