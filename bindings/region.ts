import { addon, callNative, callNativeAsync } from './addon';

/**
 * Why soft-dirty tracking is missing on a kernel that takes clear_refs 4 but never sets the bit: the one
 * explanation salvor doctor and a refused soft-dirty tracker both give.
 */
export const SOFT_DIRTY_ABSENT =
  'clear_refs accepted 4, but a page written afterwards shows no soft-dirty bit (pagemap bit 55): the kernel is built without CONFIG_MEM_SOFT_DIRTY';

/** Tracker kinds the native Region implements (native/pages/*_tracker.cc). */
export type NativeTrackerKind = 'uffd-wp' | 'soft-dirty' | 'mprotect' | 'hash';

/** The native Region object: tracked memory and the trackers attached to it. */
export interface NativeRegion {
  readonly size: number;
  readonly shared: boolean;
  readonly closed: boolean;
  /** The whole region (refused past the Buffer limit), or a window of it. */
  buffer(offset?: number, length?: number): Buffer;
  attach(kind: NativeTrackerKind, threads?: number): void;
  arm(kind: NativeTrackerKind): Promise<Uint32Array>;
  collect(kind: NativeTrackerKind): Promise<Uint32Array>;
  detach(kind: NativeTrackerKind): void;
  /** Copies the pages of flattened runs out of the region; content-comparing trackers restamp from the copy. */
  stage(runs: Uint32Array): Promise<Buffer>;
  fileSize(): number;
  close(): void;
}

export type NativeRegionClass = new (sizeOrPath: number | string) => NativeRegion;

/** Typed wrapper: every call turns native errors into SalvorError naming the region. */
export class RegionHandle {
  private constructor(
    private readonly native: NativeRegion,
    readonly label: string,
  ) {}

  static anonymous(size: number): RegionHandle {
    return new RegionHandle(callNative(() => new (addon().Region)(size)), `anonymous region of ${size} bytes`);
  }
  static file(path: string): RegionHandle {
    return new RegionHandle(callNative(() => new (addon().Region)(path), path), path);
  }

  get size(): number {
    return this.native.size;
  }
  get shared(): boolean {
    return this.native.shared;
  }
  get closed(): boolean {
    return this.native.closed;
  }
  buffer(): Buffer {
    return callNative(() => this.native.buffer(), this.label);
  }
  /** A Buffer over bytes [offset, offset + length) of the region: how a region past the Buffer limit is read. */
  window(offset: number, length: number): Buffer {
    return callNative(() => this.native.buffer(offset, length), this.label);
  }
  attach(kind: NativeTrackerKind, threads?: number): void {
    callNative(() => this.native.attach(kind, threads), this.label);
  }
  async arm(kind: NativeTrackerKind): Promise<void> {
    await callNativeAsync(() => this.native.arm(kind), this.label);
  }
  collect(kind: NativeTrackerKind): Promise<Uint32Array> {
    return callNativeAsync(() => this.native.collect(kind), this.label);
  }
  detach(kind: NativeTrackerKind): void {
    this.native.detach(kind);
  }
  stage(runs: Uint32Array): Promise<Buffer> {
    return callNativeAsync(() => this.native.stage(runs), this.label);
  }
  fileSize(): number {
    return callNative(() => this.native.fileSize(), this.label);
  }
  close(): void {
    this.native.close();
  }
}

/** The kernel's page size, as the addon reads it (sysconf). */
export function systemPageSize(): number {
  return addon().pageSize;
}

/** Measured cost of one write fault on a tracked page, in nanoseconds, per fault-based tracker. */
export function measureWriteFaultCost(kind: 'uffd-wp' | 'mprotect' | 'soft-dirty', pages = 512): number {
  return callNative(() => addon().measureWriteFaultCost(kind, pages));
}
