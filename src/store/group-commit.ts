/**
 * Group commit: items submitted while a batch is running, or in the same turn of the event loop,
 * are handed to `run` together, so many callers share one statement (or one Redis round trip)
 * instead of paying for one each. An item submitted when nothing runs is started on the next
 * turn (setImmediate, not a timer): alone, it waits for nothing; under load, the items that
 * arrive while a batch runs form the next one. Each caller is answered when its batch is done,
 * with its own result, so what `run` guarantees when it resolves (a committed statement) holds
 * for every caller answered.
 */

export interface GroupCommitOptions {
  /** Items in one batch at most; more wait for the next. */
  maxBatch: number;
  /** Batches running at once at most; meanwhile items gather for the next. */
  maxInFlight: number;
}

interface Waiter<I, O> {
  item: I;
  resolve: (o: O) => void;
  reject: (e: unknown) => void;
}

export class GroupCommit<I, O> {
  private waiting: Waiter<I, O>[] = [];
  private inFlight = 0;
  private scheduled = false;
  private idlers: (() => void)[] = [];

  /**
   * `run` answers a batch with one result per item, in order; when it throws, every item of the
   * batch is rejected with that error.
   */
  constructor(
    private readonly run: (items: I[]) => Promise<O[]>,
    private readonly opts: GroupCommitOptions,
  ) {}

  submit(item: I): Promise<O> {
    return new Promise<O>((resolve, reject) => {
      this.waiting.push({ item, resolve, reject });
      if (this.scheduled || this.inFlight >= this.opts.maxInFlight) return;
      this.scheduled = true;
      setImmediate(() => {
        this.scheduled = false;
        this.flush();
      });
    });
  }

  /** Resolves once nothing waits and nothing runs (before closing what `run` uses). */
  idle(): Promise<void> {
    if (this.waiting.length === 0 && this.inFlight === 0) return Promise.resolve();
    return new Promise((resolve) => this.idlers.push(resolve));
  }

  private flush(): void {
    while (this.waiting.length > 0 && this.inFlight < this.opts.maxInFlight) {
      const batch = this.waiting.splice(0, this.opts.maxBatch);
      this.inFlight++;
      void this.runBatch(batch);
    }
  }

  private async runBatch(batch: Waiter<I, O>[]): Promise<void> {
    try {
      const out = await this.run(batch.map((w) => w.item));
      if (out.length !== batch.length) throw new Error(`group commit: ${out.length} results for ${batch.length} items`);
      batch.forEach((w, i) => w.resolve(out[i]));
    } catch (e) {
      for (const w of batch) w.reject(e);
    } finally {
      this.inFlight--;
      // what gathered while this batch ran goes now: it has waited already
      this.flush();
      if (this.waiting.length === 0 && this.inFlight === 0) for (const f of this.idlers.splice(0)) f();
    }
  }
}
