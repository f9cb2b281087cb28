/**
 * The import graph of src/ for the lint step, type-only imports included (import-x/no-cycle skips
 * `import type`; a type-only cycle still ties files together for the reader and for refactors).
 * Relative specifiers only: './x.js' names x.ts (module nodenext). Files are read once per process.
 */
import { existsSync, readFileSync } from 'node:fs'
import { dirname, resolve } from 'node:path'
import ts from 'typescript'

/** @type {Map<string, string[]>} */
const importsOf = new Map()

/** Resolved .ts files a source file imports or re-exports from (value or type). */
export function importsOfFile (file) {
  let deps = importsOf.get(file)
  if (deps !== undefined) return deps
  deps = []
  const text = existsSync(file) ? readFileSync(file, 'utf8') : ''
  for (const ref of ts.preProcessFile(text, true, true).importedFiles) {
    const hit = resolveRelative(file, ref.fileName)
    if (hit !== null) deps.push(hit)
  }
  importsOf.set(file, deps)
  return deps
}

/** The .ts file a relative specifier names ('./x.js' → x.ts), or null (a package, or not TypeScript). */
export function resolveRelative (file, specifier) {
  if (!specifier.startsWith('.')) return null
  const base = resolve(dirname(file), specifier)
  const candidates = [base.replace(/\.js$/, '.ts'), base + '.ts', base.replace(/\.js$/, '/index.ts'), base]
  return candidates.find((c) => c.endsWith('.ts') && existsSync(c)) ?? null
}

/** A path from `from` back to `to` through the graph (files in order), or null. */
export function pathBack (from, to) {
  const seen = new Set([from])
  const queue = [[from]]
  while (queue.length > 0) {
    const path = queue.shift()
    for (const next of importsOfFile(path[path.length - 1])) {
      if (next === to) return path
      if (seen.has(next)) continue
      seen.add(next)
      queue.push([...path, next])
    }
  }
  return null
}
