import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Test } from 'tap';
import { TeeSecurityService, type TeeServiceOptions } from '../../lib/tee/security-service';
import { SimTeeClient } from '../../platform/sim/sim-tee-client';

/** A security service on a fresh simulated TEE under a temporary state directory; closed at teardown. */
export async function simService(t: Test, o: Partial<TeeServiceOptions> = {}): Promise<{ service: TeeSecurityService; client: SimTeeClient; stateDir: string; events: { event: string; [k: string]: unknown }[] }> {
  const stateDir = mkdtempSync(join(tmpdir(), 'salvor-tee-'));
  t.teardown(() => rmSync(stateDir, { recursive: true, force: true }));
  const client = await SimTeeClient.open(join(stateDir, 'tee', 'sim'));
  const service = new TeeSecurityService(client, {
    stateDir,
    keys: [{ name: 'device', alg: 'ed25519' }, { name: 'p256', alg: 'ecdsa-p256' }],
    callTimeoutMs: 400,
    resultWindowMs: 600_000,
    maxInFlight: 8,
    restartTimeoutMs: 30_000,
    crashLoop: { maxCrashes: 1000, windowMs: 60_000, backoffInitialMs: 10, backoffMaxMs: 200 },
    ...o,
  });
  const events: { event: string; [k: string]: unknown }[] = [];
  service.on('event', (e: { event: string }) => events.push(e));
  t.teardown(() => service.stop());
  await service.start();
  return { service, client, stateDir, events };
}
