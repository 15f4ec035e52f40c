/**
 * The serial link's retransmission timeout (docs/formats/serial-link.md, "Reliability"): RFC 6298's
 * estimate from round trips of frames sent once, never below what the largest packet takes at the line
 * rate, doubled on each expiry and reset by progress.
 */

export const ACK_DELAY_MS = 5;
const MIN_RTO_MS = 20;
const INITIAL_RTO_MS = 500;
const MAX_RTO_MS = 4000;

export class RetransmitTimeout {
  private srtt: number | undefined;
  private rttvar = 0;
  private backoff = 1;
  private largestPacket = 0;

  /**
   * @param lineBytesPerSecond the line's rate, for the time a packet spends on it
   * @param timeoutMs the link's timeout: the timeout never grows past half of it
   */
  constructor(
    private readonly lineBytesPerSecond: number,
    private readonly timeoutMs: number,
  ) {}

  /** A round trip of a frame that was sent once (Karn's rule: never one that was repeated). */
  sample(ms: number): void {
    if (this.srtt === undefined) {
      this.srtt = ms;
      this.rttvar = ms / 2;
    } else {
      this.rttvar = 0.75 * this.rttvar + 0.25 * Math.abs(this.srtt - ms);
      this.srtt = 0.875 * this.srtt + 0.125 * ms;
    }
  }

  /** A packet of this many bytes went out: the timeout covers its time on the line. */
  sent(packetBytes: number): void {
    if (packetBytes > this.largestPacket) this.largestPacket = packetBytes;
  }

  expired(): void {
    this.backoff = Math.min(this.backoff * 2, 64);
  }

  progressed(): void {
    this.backoff = 1;
  }

  get ms(): number {
    const txMs = (this.largestPacket / this.lineBytesPerSecond) * 1000;
    const floor = MIN_RTO_MS + ACK_DELAY_MS + txMs;
    const base = this.srtt === undefined ? INITIAL_RTO_MS + txMs : Math.max(floor, this.srtt + 4 * this.rttvar + ACK_DELAY_MS);
    const cap = Math.max(floor, Math.min(MAX_RTO_MS, this.timeoutMs / 2));
    return Math.min(cap, base * this.backoff);
  }
}
