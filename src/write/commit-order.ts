/**
 * Live-feed publishes in commit-number order (issue 12, resume). Commit numbers are taken under the
 * stream lock, so transactions commit in number order; but their COMMIT answers travel on separate
 * connections, and a backend preempted between releasing its locks and answering lets the next
 * transaction's whole tail overtake it. A client could then hold the cursor of commit N + 1 while
 * commit N's frames are still to come, and a resume from there would skip N.
 *
 *   writer:  taken(n) when the ledger statement returned n · settled(n) when its COMMIT returned or failed
 *   feed:    inOrder(n, publish) runs publish at once unless a lower number of this process is still
 *            between the two; then it waits, and runs after those settled (setImmediate: after the
 *            lower commit's own publish, which follows its COMMIT within the same turn).
 * Only this process's transactions are tracked: the set is at most the writer's slots.
 */
export class CommitOrder {
  readonly #open = new Set<number>()
  /** Publishes waiting for a lower number, ascending. */
  readonly #waiting: Array<{ readonly n: number, readonly run: () => void }> = []
  #scheduled = false

  /** Publishes held back so far (a rare event; counted by the caller if it likes). */
  held = 0

  taken (n: number): void { this.#open.add(n) }

  settled (n: number): void {
    this.#open.delete(n)
    if (this.#waiting.length > 0 && !this.#scheduled) {
      this.#scheduled = true
      setImmediate(() => { this.#scheduled = false; this.#flush() })
    }
  }

  /** Runs `run` (the publish of commit n; undefined: no position, at once) in commit order. */
  inOrder (n: number | undefined, run: () => void): void {
    if (n === undefined || !this.#lowerOpen(n)) {
      run()
      return
    }
    this.held++
    let i = this.#waiting.length
    while (i > 0 && (this.#waiting[i - 1] as { n: number }).n > n) i--
    this.#waiting.splice(i, 0, { n, run })
  }

  #flush (): void {
    while (this.#waiting.length > 0 && !this.#lowerOpen((this.#waiting[0] as { n: number }).n)) (this.#waiting.shift() as { run: () => void }).run()
  }

  #lowerOpen (n: number): boolean {
    for (const m of this.#open) if (m < n) return true
    return false
  }
}
