import type { DaemonPlatform } from '../agent/daemon';
import type { MemorySource } from '../leak/memory-source';
import type { DeviceOpener } from '../nvram/device';
import type { TrackedRegion } from '../replication/tracked-region';
import type { TransportBackend } from '../transport/link';

/** What the composition root (tools/platform.ts) hands the CLI: backends chosen for this machine. */
export interface CliPlatform {
  openNvramDevice: DeviceOpener;
  /** Where salvor keeps its own state ($SALVOR_STATE_DIR, else ./var). */
  stateDir: string;
  /** Peer transports by URL scheme (tcp, serial). */
  transports: TransportBackend[];
  /** A region over a shared-memory or regular file, tracked by the auto policy. */
  openRegion: (path: string) => Promise<TrackedRegion>;
  /** Mutual-TLS material from the state directory (STATE/tls/cert.pem, key.pem, ca.pem); throws when absent. */
  tlsCertificates: () => { cert: Buffer; key: Buffer; ca: Buffer };
  /** The daemon's backends: capabilities built for a config, sd_notify, peer credentials. */
  daemonPlatform: () => DaemonPlatform;
  /** Leak watch: the memory source for this machine (/proc and cgroup v2). */
  leakMemorySource?: () => MemorySource;
}
