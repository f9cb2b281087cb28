import neostandard from 'neostandard'
import importX, { createNodeResolver } from 'eslint-plugin-import-x'
import { pathBack, resolveRelative } from './import-graph.js'

/**
 * import-x/no-cycle never follows a declaration that imports only types (see its source), so a
 * cycle made of `import type` passes it. This rule follows every relative import, types included,
 * and reports the import that closes a cycle with the way back.
 */
const noCycleWithTypes = {
  meta: { type: 'problem', messages: { cycle: 'Import cycle (type-only imports count): {{path}}' }, schema: [] },
  create (context) {
    const file = context.physicalFilename
    const rel = (p) => p.slice(p.lastIndexOf('/src/') + 1)
    const check = (node) => {
      if (node.source == null) return
      const dep = resolveRelative(file, String(node.source.value))
      if (dep === null || dep === file) return
      const back = pathBack(dep, file)
      if (back !== null) context.report({ node, messageId: 'cycle', data: { path: [file, ...back, file].map(rel).join(' -> ') } })
    }
    return { ImportDeclaration: check, ExportNamedDeclaration: check, ExportAllDeclaration: check }
  },
}

export default [
  ...neostandard({ ts: true, ignores: ['dist/**', 'coverage/**', 'src/parse/generated/**', '.local/**', 'node_modules/**', 'test/artifacts/**'] }),
  {
    rules: {
      // House convention: an `as const` object and the union type derived from it share one name.
      '@typescript-eslint/no-redeclare': 'off',
    },
  },
  {
    // No import cycles in src/: a cycle means a shared type or helper lives in the wrong file (it
    // belongs in the module both sides import, shared/STYLE.md "Which way imports point").
    files: ['src/**/*.ts'],
    plugins: { 'import-x': importX, cnc: { rules: { 'no-cycle-with-types': noCycleWithTypes } } },
    settings: {
      // import-x reads only files it has a parser for: without these, no .ts file is followed.
      'import-x/extensions': ['.ts', '.js', '.mjs'],
      'import-x/parsers': { '@typescript-eslint/parser': ['.ts'] },
      // Sources import './x.js' and the file is x.ts (module nodenext).
      'import-x/resolver-next': [createNodeResolver({ extensions: ['.ts', '.js', '.mjs', '.json'], extensionAlias: { '.js': ['.ts', '.js'] } })],
    },
    rules: {
      'import-x/no-cycle': 'error',
      'cnc/no-cycle-with-types': 'error',
    },
  },
  {
    // config/ imports nothing of the API; helpers both need live below both (e.g. net/loopback.ts).
    files: ['src/config/**/*.ts'],
    rules: {
      'no-restricted-imports': ['error', { patterns: [{ group: ['**/api/*'], message: 'config/ must not import from api/: move the helper to a neutral module' }] }],
    },
  },
  {
    // api/ reads; it does not reach into the ingest side. What both need (SQLSTATE) lives in db/.
    // Not yet: the SQL client type (write/sql-client.ts), to move to db/ with db-features.ts.
    files: ['src/api/**/*.ts'],
    rules: {
      'no-restricted-imports': ['error', { patterns: [{ group: ['**/write/*', '!**/write/sql-client.js', '**/ingest/*'], message: 'api/ must not import from write/ or ingest/: move what both need to a neutral module (e.g. db/)' }] }],
    },
  },
]
