/**
 * Where the time goes: sums the self time of every .cpuprofile in a directory (node --cpu-prof output;
 * `PERF_CPU_PROF=<dir> npm run perf` leaves one per thread of the service) by function and by file.
 *
 *   tsx bench/profile-summary.ts <dir> [top=25]
 */
import { readdirSync, readFileSync } from 'node:fs'

interface ProfileNode { id: number, callFrame: { functionName: string, url: string, lineNumber: number }, children?: number[] }
interface Profile { nodes: ProfileNode[], samples: number[], timeDeltas: number[], startTime: number, endTime: number }

const [dir, topArg] = process.argv.slice(2)
if (dir === undefined) {
  process.stderr.write('usage: tsx bench/profile-summary.ts <dir> [top]\n')
  process.exit(2)
}
const top = Number(topArg ?? 25)

function short (url: string): string {
  if (url === '') return '(native/vm)'
  const nm = url.lastIndexOf('node_modules/')
  if (nm >= 0) return url.slice(nm + 13).split('/').slice(0, url.slice(nm + 13).startsWith('@') ? 2 : 1).join('/') + ' (dep)'
  const d = url.indexOf('/dist/')
  if (d >= 0) return url.slice(d + 1)
  return url.replace(/^node:/, 'node:')
}

for (const file of readdirSync(dir).filter((f) => f.endsWith('.cpuprofile')).sort()) {
  const p = JSON.parse(readFileSync(`${dir}/${file}`, 'utf8')) as Profile
  const byId = new Map(p.nodes.map((n) => [n.id, n]))
  const self = new Map<number, number>()
  p.samples.forEach((id, i) => self.set(id, (self.get(id) ?? 0) + (p.timeDeltas[i] ?? 0)))
  const total = (p.endTime - p.startTime) / 1000
  const byFn = new Map<string, number>()
  const byFile = new Map<string, number>()
  for (const [id, us] of self) {
    const n = byId.get(id)
    if (n === undefined) continue
    const f = short(n.callFrame.url)
    const fn = `${n.callFrame.functionName === '' ? '(anonymous)' : n.callFrame.functionName}  ${f}${n.callFrame.url === '' ? '' : ':' + (n.callFrame.lineNumber + 1)}`
    byFn.set(fn, (byFn.get(fn) ?? 0) + us / 1000)
    byFile.set(f, (byFile.get(f) ?? 0) + us / 1000)
  }
  const idle = byFn.get('(idle)  (native/vm)') ?? 0
  console.log(`\n== ${file}: ${total.toFixed(0)} ms profiled, ${(total - idle).toFixed(0)} ms busy`)
  const print = (m: Map<string, number>, n: number): void => {
    for (const [k, ms] of [...m].sort((a, b) => b[1] - a[1]).slice(0, n)) console.log(`${ms.toFixed(0).padStart(8)} ms ${(100 * ms / total).toFixed(1).padStart(5)}%  ${k}`)
  }
  console.log('-- by file'); print(byFile, 12)
  console.log('-- by function'); print(byFn, top)
}
