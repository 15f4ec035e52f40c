import t from 'tap';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { crc32cBackend } from '../../bindings/crc';
import { AT_HWCAP, HWCAP_CRC32, auxvEntry } from './auxv';

// `salvor doctor --json` names the backends of the architecture it runs on: the x86 paths on
// x86-64, the ARMv8 ones under the arm64 Node (`npm run test:arm64` runs this file there).

const cli = join(__dirname, '..', '..', 'dist', 'tools', 'salvor.js');

interface Doctor {
  machine: { arch: string; addon: { loaded: boolean; reason: string } };
  features: { id: string; group: string; present: boolean; reason: string }[];
  backends: { capability: string; backend: string; reason: string }[];
}

function doctor(): Doctor {
  const r = spawnSync(process.execPath, [cli, 'doctor', '--json'], { encoding: 'utf8', timeout: 300_000 });
  if (r.status !== 0) throw new Error(`salvor doctor --json exited ${r.status}: ${r.stderr}`);
  return JSON.parse(r.stdout) as Doctor;
}

t.test(`doctor --json on ${process.arch} names this architecture's CRC path`, async (t) => {
  const report = doctor();
  t.equal(report.machine.arch, process.arch);
  t.equal(report.machine.addon.loaded, true, report.machine.addon.reason);
  const crc = report.backends.find((b) => b.capability === 'nvram-crc');
  t.equal(crc?.backend, crc32cBackend(), 'the backend the addon chose in this process');
  const present = (id: string) => report.features.find((f) => f.id === id)?.present;
  if (process.arch === 'arm64') {
    const hwcap = auxvEntry(AT_HWCAP) ?? 0n;
    const hasCrc = (hwcap & HWCAP_CRC32) !== 0n;
    t.equal(present('arm-crc32'), hasCrc, `arm-crc32 follows AT_HWCAP 0x${hwcap.toString(16)}`);
    t.equal(crc?.backend, hasCrc ? 'armv8-crc' : 'table');
    if (hasCrc) t.match(crc?.reason, /ARMv8 CRC32 instructions/);
    for (const id of ['sse4.2', 'pclmulqdq', 'avx512f', 'vpclmulqdq']) t.equal(present(id), false, `${id} is not claimed on arm64`);
  } else if (process.arch === 'x64') {
    t.equal(present('arm-crc32'), false, 'arm-crc32 is not claimed on x86-64');
    t.ok(['avx512-vpclmulqdq', 'sse42-3way-pclmul', 'table'].includes(crc?.backend ?? ''), `x86-64 path ${crc?.backend}`);
  } else {
    t.equal(crc?.backend, 'table', `no hardware CRC path is built for ${process.arch}`);
  }
});
