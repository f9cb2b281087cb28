/**
 * The operator page: the files esbuild wrote to dist/web (src/web/build.mjs), read once at start
 * and served from memory at / and /<file> with their content type and an ETag (304 on match).
 * Public: the page holds no data; its API calls and the live feed carry the token.
 * The HTML goes out with a Content-Security-Policy allowing this origin only (the bundle carries
 * uPlot and its CSS, no CDN), and no Referer, since the token may sit in the page's address.
 * Answers are synchronous (no onAborted needed, shared/STYLE.md).
 */
import { createHash } from 'node:crypto'
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs'
import { dirname, extname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import type { Uws } from './uws.js'

const TYPES: Readonly<Record<string, string>> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.map': 'application/json',
  '.ico': 'image/x-icon',
}

interface WebFile { readonly body: Buffer, readonly type: string, readonly etag: string }

/** connect-src 'self' covers the same-origin WebSocket (ws: and wss: match 'self' in CSP 3). */
const PAGE_CSP = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; " +
  "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"

/** dist/web next to dist/api (compiled), or the repository's dist/web when running from src/ (tsx). */
export function webDir (): string | undefined {
  const here = dirname(fileURLToPath(import.meta.url))
  for (const dir of [join(here, '..', 'web'), join(here, '..', '..', 'dist', 'web')]) {
    // app.js: src/web holds index.html too, but only the built directory has the bundle.
    if (existsSync(join(dir, 'index.html')) && existsSync(join(dir, 'app.js'))) return dir
  }
  return undefined
}

export function loadWebFiles (dir: string): Map<string, WebFile> {
  const files = new Map<string, WebFile>()
  for (const name of readdirSync(dir)) {
    const type = TYPES[extname(name)]
    if (type === undefined || !statSync(join(dir, name)).isFile()) continue
    const body = readFileSync(join(dir, name))
    files.set(name, { body, type, etag: '"' + createHash('sha256').update(body).digest('base64url').slice(0, 22) + '"' })
  }
  return files
}

/** Registers GET / and GET /<file>; returns the paths served (none when the page was not built). */
export function mountWeb (app: Uws.TemplatedApp, dir = webDir()): string[] {
  if (dir === undefined) return []
  const files = loadWebFiles(dir)
  const paths: string[] = []
  for (const [name, f] of files) {
    const html = f.type.startsWith('text/html')
    const handler = (res: Uws.HttpResponse, req: Uws.HttpRequest): void => {
      const match = req.getHeader('if-none-match') === f.etag
      res.cork(() => {
        if (match) {
          res.writeStatus('304 Not Modified').writeHeader('ETag', f.etag).end()
          return
        }
        res.writeStatus('200 OK').writeHeader('Content-Type', f.type).writeHeader('ETag', f.etag)
          .writeHeader('Cache-Control', 'no-cache').writeHeader('X-Content-Type-Options', 'nosniff')
        if (html) res.writeHeader('Content-Security-Policy', PAGE_CSP).writeHeader('Referrer-Policy', 'no-referrer')
        res.end(f.body)
      })
    }
    app.get('/' + name, handler)
    paths.push('/' + name)
    if (name === 'index.html') { app.get('/', handler); paths.push('/') }
  }
  return paths
}
