/**
 * Where window pages are encoded (copy-json.ts): with 0 `http.page_threads` on the calling thread,
 * chunk by chunk as the database sends them (the encoding overlaps the COPY); with threads, the COPY
 * bytes are collected, moved to a worker and the JSON moved back (no copy between threads), so the
 * event loop that pulls, acks and answers every other request only moves bytes; a small page is
 * encoded in place. Measured in bench/RESULTS.md (issue 16).
 * Lifecycle: constructor → page()* → close().
 */
import { Piscina } from 'piscina'
import { CopyJsonEncoder, copyRowsToJson, type CopyJsonPage } from './copy-json.js'
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

export interface PageInProgress {
  readonly push: (chunk: Buffer) => void
  /** The page (copy-json.ts CopyJsonPage), or null when copy-json declines it. */
  readonly end: () => Promise<CopyJsonPage | null>
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

  /** An encoding of one page: push() the COPY chunks as they arrive, then end(). */
  page (idJson: string, limit: number): PageInProgress {
    if (this.#pool === undefined) {
      const encoder = new CopyJsonEncoder(idJson, limit)
      return { push: (chunk) => { encoder.push(chunk) }, end: async () => encoder.end() }
    }
    const pool = this.#pool
    const chunks: Buffer[] = []
    return {
      push: (chunk) => { chunks.push(chunk) },
      end: async () => {
        const copy = Buffer.concat(chunks)
        if (copy.length < IN_PLACE_BYTES) return copyRowsToJson(copy, idJson, limit)
        const page = await pool.run({ copy, idJson, limit }, { transferList: [copy.buffer as ArrayBuffer] })
        return page === null ? null : { ...page, body: asBuffer(page.body) }
      },
    }
  }

  async close (): Promise<void> {
    await this.#pool?.close()
  }
}
