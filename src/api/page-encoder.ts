/**
 * Where window pages are encoded (copy-json.ts): on `http.page_threads` worker threads, so the
 * event loop that pulls, acks and answers every other request only moves bytes; with 0 threads, or
 * for a small page, on the calling thread. The COPY bytes are moved to the worker and the JSON moved
 * back (no copy between threads). Measured in bench/RESULTS.md (issue 16).
 * Lifecycle: constructor → encode()* → close().
 */
import { Piscina } from 'piscina'
import { copyRowsToJson, type CopyJsonPage } from './copy-json.js'
import { asBuffer } from '../bytes.js'

const ext = import.meta.url.endsWith('.ts') ? '.ts' : '.js'
const WORKER_FILE = new URL(`./page-worker${ext}`, import.meta.url).href

/** Below this many COPY bytes (about 500 rows) a page is encoded in place: the hand-off would cost more. */
const IN_PLACE_BYTES = 64 * 1024
/** Heap bound of a page worker: its buffers are ArrayBuffers outside it; the bound keeps a failure in the worker. */
const WORKER_HEAP_MB = 64

export interface PageTask {
  readonly copy: Buffer
  readonly idJson: string
  readonly limit: number
}

export class PageEncoder {
  readonly #pool: Piscina<PageTask, CopyJsonPage | null> | undefined

  constructor (threads: number) {
    this.#pool = threads === 0
      ? undefined
      : new Piscina({
        filename: WORKER_FILE,
        // Started on the first large page, ended after a minute idle: a service nobody queries keeps no thread.
        minThreads: 0,
        maxThreads: threads,
        idleTimeout: 60_000,
        resourceLimits: { maxOldGenerationSizeMb: WORKER_HEAP_MB },
      })
    // A worker that dies between tasks is replaced by Piscina; its 'error' event must not be uncaught.
    this.#pool?.on('error', () => {})
  }

  /** copy-json.ts copyRowsToJson, on a worker when there is one and the page is worth it. */
  async encode (copy: Buffer, idJson: string, limit: number): Promise<CopyJsonPage | null> {
    if (this.#pool === undefined || copy.length < IN_PLACE_BYTES) return copyRowsToJson(copy, idJson, limit)
    // Only a buffer that owns its whole ArrayBuffer can be moved (a slice of a socket read may share one).
    const own = copy.byteOffset === 0 && copy.byteLength === copy.buffer.byteLength ? copy : copyOwned(copy)
    const page = await this.#pool.run({ copy: own, idJson, limit }, { transferList: [own.buffer as ArrayBuffer] })
    return page === null ? null : { ...page, body: asBuffer(page.body) }
  }

  async close (): Promise<void> {
    await this.#pool?.close()
  }
}

function copyOwned (b: Buffer): Buffer {
  const out = Buffer.allocUnsafeSlow(b.length)
  b.copy(out)
  return out
}
