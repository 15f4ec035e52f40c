/**
 * The receiving half of a serial session (docs/formats/serial-link.md, "Reliability"): frames held after a
 * gap, frames in order waiting for a handler, and what the next ACK says about them (ack, window, SACK).
 */
import type { Frame } from './link';

export const SACK_BITS = 32;

export type Arrival = 'duplicate' | 'beyond-window' | 'accepted';

export class ReceiveBuffer {
  /** Every seq up to this one has arrived. */
  received = 0n;
  /** Frames that arrived after a gap. */
  private held = new Map<bigint, Frame>();
  /** Frames in order that no handler has taken yet: they use up the window the peer is offered. */
  private inOrder: Frame[] = [];

  /** @param window frames buffered at most, 1..32 (the SACK bitmap covers 32) */
  constructor(private readonly window: number) {}

  /** Files a frame; returns how many frames it completed in order (0 when it waits behind a gap). */
  arrive(frame: Frame): { arrival: Arrival; inOrder: number } {
    const seq = frame.seq;
    if (seq <= this.received || this.held.has(seq)) return { arrival: 'duplicate', inOrder: 0 };
    if (seq > this.received + BigInt(this.freeWindow())) return { arrival: 'beyond-window', inOrder: 0 };
    this.held.set(seq, frame);
    let inOrder = 0;
    while (this.held.has(this.received + 1n)) {
      const next = this.held.get(this.received + 1n)!;
      this.held.delete(++this.received);
      this.inOrder.push(next);
      inOrder++;
    }
    return { arrival: 'accepted', inOrder };
  }

  /** The next frame for the handlers, in seq order. */
  take(): Frame | undefined {
    return this.inOrder.shift();
  }

  get waitingForHandler(): number {
    return this.inOrder.length;
  }

  get hasGap(): boolean {
    return this.held.size > 0;
  }

  /** Frames the peer may still send beyond `received`. */
  freeWindow(): number {
    return Math.max(0, this.window - this.inOrder.length);
  }

  /** Bit i: frame received + 2 + i is held. */
  sackBits(): number {
    let bits = 0;
    if (this.held.size) for (let i = 0; i < SACK_BITS; i++) if (this.held.has(this.received + 2n + BigInt(i))) bits |= 1 << i;
    return bits >>> 0;
  }

  /** The session ended: frames behind a gap will never be delivered (those in order still may). */
  dropHeld(): void {
    this.held.clear();
  }
}
