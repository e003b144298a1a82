/**
 * Zero-filled SharedArrayBuffers made ahead of time by idle pool workers (Node only; see threads.ts).
 *
 * Every new tensor is zero-filled by the engine as it is allocated, on the thread that allocates
 * it: the calling thread. A ResNet18 training step allocates 80-360 MB of activations and gradients
 * that way (W4 and the CIFAR recipe), 10-50 ms of memset per step that the second core cannot share,
 * while that core sits idle between kernels. So the calling thread asks the workers for buffers of
 * the sizes it allocates: a worker with nothing to run makes them (new SharedArrayBuffer: zeroed by
 * the engine, never written by the worker) and posts them back, and the next allocation of that size
 * takes one instead of zeroing its own. A training loop allocates the same sizes every step, so after
 * the first step most large allocations find a buffer waiting.
 *
 * Only contents are at stake, and a supplied buffer holds exactly what a new one would (zeros), so
 * results never depend on where a buffer came from.
 *
 * The request ring is an Int32Array over a SharedArrayBuffer: [head, tail, size slots...]. The
 * calling thread alone pushes (at tail); workers pop (at head, by compare-and-swap), so each
 * request is served once.
 */
import { receiveMessageOnPort, type MessagePort } from 'worker_threads';

/** Smallest buffer worth supplying: below this, zeroing costs less than the message carrying it. */
export const SUPPLY_MIN_BYTES = 256 * 1024;
/**
 * Largest buffer a worker makes: making one takes a worker about 1 ms per 8 MB, and a job posted
 * meanwhile waits for it.
 */
export const SUPPLY_MAX_BYTES = 8 * 1024 * 1024;
/** Bytes requested or waiting in the pool at most (the supply's share of resident memory). */
export const SUPPLY_CAP_BYTES = 96 * 1024 * 1024;

const HEAD = 0;
const TAIL = 1;
/** Request slots (a power of two: positions wrap with the int32 counters). */
const SLOTS = 256;

/** A request ring for `new BufferSupply` and its workers. */
export function createSupplyRing(): Int32Array {
  return new Int32Array(new SharedArrayBuffer((2 + SLOTS) * 4));
}

/** What a worker posts back: one new, untouched buffer. */
export interface SupplyMessage {
  buffer: SharedArrayBuffer;
}

/**
 * Worker side: takes one request from the ring, makes the buffer and posts it on `port`. Returns
 * its size in bytes, or 0 when no request was waiting.
 */
export function serveSupplyRequest(ring: Int32Array, port: MessagePort): number {
  for (;;) {
    const head = Atomics.load(ring, HEAD);
    if (head === Atomics.load(ring, TAIL)) return 0;
    const bytes = Atomics.load(ring, 2 + (head & (SLOTS - 1)));
    if (Atomics.compareExchange(ring, HEAD, head, (head + 1) | 0) !== head) continue; // another worker took it
    const message: SupplyMessage = { buffer: new SharedArrayBuffer(bytes) };
    port.postMessage(message);
    return bytes;
  }
}

export interface SupplyStats {
  /** Allocations served from the pool. */
  hits: number;
  /** Allocations in the supplied size range that found no buffer of their size. */
  misses: number;
  /** Buffers received from workers. */
  received: number;
  /** Supplied buffers let go: to make room for other sizes, or because the supply was stopped. */
  dropped: number;
  /** Bytes waiting in the pool, and requested but not yet received. */
  pooledBytes: number;
  requestedBytes: number;
}

/** The calling thread's side: the pool of supplied buffers and the requests for more. */
export class BufferSupply {
  readonly ring = createSupplyRing();
  private readonly ports: MessagePort[] = [];
  /** Supplied buffers by size, oldest first. */
  private readonly pool = new Map<number, SharedArrayBuffer[]>();
  private readonly counts: SupplyStats = { hits: 0, misses: 0, received: 0, dropped: 0, pooledBytes: 0, requestedBytes: 0 };
  /** False after setActive(false): arriving buffers are let go instead of pooled. */
  private active = true;

  constructor(private readonly capBytes = SUPPLY_CAP_BYTES) {}

  /** Reads buffers that `port` (a worker's supply port) delivers. */
  addPort(port: MessagePort): void {
    this.ports.push(port);
  }

  /**
   * Stops reading `port` (its worker thread has ended); buffers it already delivered stay in the
   * pool. A request its worker took but never delivered (terminated while making the buffer) would
   * stay counted as requested for ever; once no port is left nothing more can arrive, so only the
   * requests still waiting in the ring count (shutdownThreads used to leak up to 8 MB of the cap
   * each time, until the supply asked for nothing more).
   */
  removePort(port: MessagePort): void {
    this.drainPort(port);
    const i = this.ports.indexOf(port);
    if (i >= 0) this.ports.splice(i, 1);
    if (this.ports.length === 0) this.counts.requestedBytes = this.ringBytes();
  }

  /** Bytes of the requests waiting in the ring, not yet taken by a worker. */
  private ringBytes(): number {
    let bytes = 0;
    const head = Atomics.load(this.ring, HEAD), tail = Atomics.load(this.ring, TAIL);
    for (let i = head; i !== tail; i = (i + 1) | 0) bytes += Atomics.load(this.ring, 2 + (i & (SLOTS - 1)));
    return bytes;
  }

  /**
   * A zero-filled buffer of exactly `bytes`, or null (the caller allocates one itself). Either way,
   * a buffer of this size is requested for the next time, within the cap.
   */
  take(bytes: number): SharedArrayBuffer | null {
    if (bytes < SUPPLY_MIN_BYTES || bytes > SUPPLY_MAX_BYTES || this.ports.length === 0) return null;
    this.active = true;
    this.drain();
    const list = this.pool.get(bytes);
    let buf: SharedArrayBuffer | null = null;
    if (list !== undefined && list.length > 0) {
      buf = list.shift() as SharedArrayBuffer;
      this.counts.pooledBytes -= bytes;
      this.counts.hits++;
    } else {
      this.counts.misses++;
    }
    this.request(bytes);
    return buf;
  }

  /** True when requests are waiting in the ring for a worker. */
  wantsService(): boolean {
    return Atomics.load(this.ring, HEAD) !== Atomics.load(this.ring, TAIL);
  }

  stats(): SupplyStats {
    this.drain();
    return { ...this.counts };
  }

  /**
   * Stops supplying (on = false): withdraws the requests no worker has taken yet, lets go of every
   * pooled buffer and of those still arriving. take() turns it back on.
   */
  setActive(on: boolean): void {
    this.active = on;
    if (on) return;
    for (;;) {
      const head = Atomics.load(this.ring, HEAD), tail = Atomics.load(this.ring, TAIL);
      if (head === tail) break;
      if (Atomics.compareExchange(this.ring, HEAD, head, tail) !== head) continue; // a worker took one meanwhile
      for (let i = head; i !== tail; i = (i + 1) | 0) this.counts.requestedBytes -= Atomics.load(this.ring, 2 + (i & (SLOTS - 1)));
      break;
    }
    this.drain();
    for (const list of this.pool.values()) this.counts.dropped += list.length;
    this.pool.clear();
    this.counts.pooledBytes = 0;
  }

  /** Receives whatever the workers have posted. */
  drain(): void {
    for (const port of this.ports) this.drainPort(port);
  }

  private drainPort(port: MessagePort): void {
    for (;;) {
      const m = receiveMessageOnPort(port);
      if (m === undefined) return;
      const buf = (m.message as SupplyMessage).buffer;
      const bytes = buf.byteLength;
      this.counts.requestedBytes -= bytes;
      this.counts.received++;
      if (!this.active) {
        this.counts.dropped++;
        continue;
      }
      let list = this.pool.get(bytes);
      if (list === undefined) {
        list = [];
        this.pool.set(bytes, list);
      }
      list.push(buf);
      this.counts.pooledBytes += bytes;
    }
  }

  /** Asks the workers for one buffer of `bytes`, making room in the pool if the cap requires. */
  private request(bytes: number): void {
    const c = this.counts;
    if (c.pooledBytes + c.requestedBytes + bytes > this.capBytes) this.dropOtherSizes(bytes);
    if (c.pooledBytes + c.requestedBytes + bytes > this.capBytes) return;
    const head = Atomics.load(this.ring, HEAD), tail = Atomics.load(this.ring, TAIL);
    if (((tail - head) | 0) >= SLOTS) return;
    Atomics.store(this.ring, 2 + (tail & (SLOTS - 1)), bytes);
    Atomics.store(this.ring, TAIL, (tail + 1) | 0);
    c.requestedBytes += bytes;
  }

  /** Lets go of pooled buffers of other sizes than `bytes`, oldest sizes first, until it fits. */
  private dropOtherSizes(bytes: number): void {
    const c = this.counts;
    for (const [size, list] of this.pool) {
      if (size === bytes) continue;
      while (list.length > 0 && c.pooledBytes + c.requestedBytes + bytes > this.capBytes) {
        list.shift();
        c.pooledBytes -= size;
        c.dropped++;
      }
      if (list.length === 0) this.pool.delete(size);
      if (c.pooledBytes + c.requestedBytes + bytes <= this.capBytes) return;
    }
  }
}
