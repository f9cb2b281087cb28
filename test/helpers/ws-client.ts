/**
 * A minimal RFC 6455 client over node:net for the live-feed tests (Node 20 has no stable global
 * WebSocket). It also gives the raw socket, so a test can stop reading and play a slow client.
 */
import { randomBytes } from 'node:crypto'
import { connect, type Socket } from 'node:net'

export interface WsMessage { readonly type: string, readonly [k: string]: unknown }

export class WsClient {
  readonly socket: Socket
  readonly messages: WsMessage[] = []
  /** Close frame code from the server, or 1006 when the socket ended without one. */
  closeCode: number | undefined
  readonly #waiters = new Set<() => void>()
  #buf: Buffer = Buffer.alloc(0)
  #fragments: Buffer[] = []
  readonly #onText: ((payload: Buffer) => void) | undefined

  private constructor (socket: Socket, onText?: (payload: Buffer) => void) {
    this.socket = socket
    this.#onText = onText
  }

  /**
   * Opens ws://127.0.0.1:port/path; rejects with the HTTP status line and body when not upgraded.
   * With onText, text messages go there unparsed (benchmarks) instead of into `messages`.
   */
  static connect (port: number, path: string, headers: Record<string, string> = {}, onText?: (payload: Buffer) => void): Promise<WsClient> {
    return new Promise((resolve, reject) => {
      const socket = connect(port, '127.0.0.1')
      const client = new WsClient(socket, onText)
      let head = Buffer.alloc(0)
      const onData = (chunk: Buffer): void => {
        head = Buffer.concat([head, chunk])
        const end = head.indexOf('\r\n\r\n')
        if (end < 0) return
        socket.off('data', onData)
        const status = head.subarray(0, head.indexOf('\r\n')).toString()
        if (!/^HTTP\/1\.1 101 /.test(status)) {
          setTimeout(() => { socket.destroy(); reject(new Error(`${status} ${head.subarray(end + 4).toString()}`)) }, 50)
          return
        }
        socket.on('data', (c: Buffer) => client.#onData(c))
        socket.on('close', () => { client.closeCode ??= 1006; client.#wake() })
        if (head.length > end + 4) client.#onData(head.subarray(end + 4))
        resolve(client)
      }
      socket.on('data', onData)
      socket.once('error', reject)
      const extra = Object.entries(headers).map(([k, v]) => `${k}: ${v}\r\n`).join('')
      socket.write(`GET ${path} HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
        `Sec-WebSocket-Key: ${randomBytes(16).toString('base64')}\r\nSec-WebSocket-Version: 13\r\n${extra}\r\n`)
    })
  }

  send (text: string | object): void {
    this.#frame(1, Buffer.from(typeof text === 'string' ? text : JSON.stringify(text)))
  }

  /** Resolves with the first message (already received or coming) that matches. */
  async next (match: (m: WsMessage) => boolean, timeoutMs = 5_000): Promise<WsMessage> {
    const until = Date.now() + timeoutMs
    let seen = 0
    for (;;) {
      for (; seen < this.messages.length; seen++) {
        const m = this.messages[seen] as WsMessage
        if (match(m)) { this.messages.splice(seen, 1); return m }
      }
      if (this.closeCode !== undefined) throw new Error(`socket closed (${this.closeCode}) while waiting`)
      const left = until - Date.now()
      if (left <= 0) throw new Error('timed out waiting for a live-feed message')
      await new Promise<void>((resolve) => {
        const t = setTimeout(done, left)
        function done (): void { clearTimeout(t); waiters.delete(done); resolve() }
        const waiters = this.#waiters
        waiters.add(done)
      })
    }
  }

  /** Every reading received so far (and removes the readings frames from `messages`). */
  readings (): Array<Record<string, unknown>> {
    const out: Array<Record<string, unknown>> = []
    for (let i = this.messages.length - 1; i >= 0; i--) {
      const m = this.messages[i] as WsMessage
      if (m.type === 'readings') { out.unshift(...(m.data as Array<Record<string, unknown>>)); this.messages.splice(i, 1) }
    }
    return out
  }

  close (): void {
    if (!this.socket.destroyed) this.#frame(8, Buffer.from([0x03, 0xe8]))
    this.socket.end()
  }

  #wake (): void { for (const w of [...this.#waiters]) w() }

  #frame (opcode: number, payload: Buffer): void {
    if (this.socket.destroyed) return
    const mask = randomBytes(4)
    const len = payload.length
    let head: Buffer
    if (len < 126) head = Buffer.from([0x80 | opcode, 0x80 | len])
    else if (len < 65536) head = Buffer.from([0x80 | opcode, 0x80 | 126, len >> 8, len & 255])
    else {
      head = Buffer.alloc(10)
      head[0] = 0x80 | opcode
      head[1] = 0x80 | 127
      head.writeBigUInt64BE(BigInt(len), 2)
    }
    const body = Buffer.alloc(len)
    for (let i = 0; i < len; i++) body[i] = (payload[i] as number) ^ (mask[i & 3] as number)
    this.socket.write(Buffer.concat([head, mask, body]))
  }

  #onData (chunk: Buffer): void {
    this.#buf = this.#buf.length === 0 ? chunk : Buffer.concat([this.#buf, chunk])
    for (;;) {
      const b = this.#buf
      if (b.length < 2) return
      const fin = ((b[0] as number) & 0x80) !== 0
      const opcode = (b[0] as number) & 0x0f
      let len = (b[1] as number) & 0x7f
      let off = 2
      if (len === 126) {
        if (b.length < 4) return
        len = b.readUInt16BE(2)
        off = 4
      } else if (len === 127) { if (b.length < 10) return; len = Number(b.readBigUInt64BE(2)); off = 10 }
      if (b.length < off + len) return
      const payload = b.subarray(off, off + len)
      this.#buf = b.subarray(off + len)
      if (opcode === 8) {
        this.closeCode = payload.length >= 2 ? payload.readUInt16BE(0) : 1005
        this.socket.end()
      } else if (opcode === 9) {
        this.#frame(10, Buffer.from(payload))
      } else if (opcode === 1 || opcode === 0) {
        this.#fragments.push(Buffer.from(payload))
        if (fin) {
          const whole = this.#fragments.length === 1 ? this.#fragments[0] as Buffer : Buffer.concat(this.#fragments)
          this.#fragments = []
          if (this.#onText !== undefined) this.#onText(whole)
          else this.messages.push(JSON.parse(whole.toString('utf8')) as WsMessage)
        }
      }
      this.#wake()
    }
  }
}
