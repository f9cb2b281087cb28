// Bundles the operator page (src/web) into dist/web: one minified script (with uPlot), one
// stylesheet (ours with uPlot's imported) and the HTML. Run by `npm run build`; no CDN, so the page
// works offline.
import { copyFileSync, mkdirSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { build } from 'esbuild'

const here = dirname(fileURLToPath(import.meta.url))
const out = join(here, '..', '..', 'dist', 'web')
mkdirSync(out, { recursive: true })
await build({
  entryPoints: [join(here, 'app.ts'), join(here, 'styles.css')],
  outdir: out,
  bundle: true,
  minify: true,
  format: 'esm',
  target: ['es2022', 'chrome109', 'firefox115', 'safari16'],
  platform: 'browser',
  sourcemap: false,
  logLevel: 'warning',
})
for (const f of ['index.html', 'favicon.svg']) copyFileSync(join(here, f), join(out, f))
