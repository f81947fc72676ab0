/**
 * Who owns a run folder, and whether that owner still runs (protocol/runFolder.ts
 * `runStateOf`): the pid, the host, and the process's start time as the OS reports it,
 * so that a pid reused by another process after the owner died is not taken for it.
 * Node only; the extension and the CLI both read run folders with `probeRunOwner`.
 */
import { readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import type { OwnerLiveness, RunOwner } from '../../../protocol/runFolder';

function readProcFile(path: string): string | undefined {
  try {
    // Kernel files of a few hundred bytes (their stat size is 0, so no size check applies).
    return readFileSync(path, 'utf8');
  } catch {
    return undefined;
  }
}

/**
 * Linux: the boot id and field 22 of /proc/<pid>/stat (start time in clock ticks after
 * boot); undefined elsewhere or when the process does not exist.
 */
export function processStartTime(pid: number): string | undefined {
  if (process.platform !== 'linux') return undefined;
  const stat = readProcFile(`/proc/${pid}/stat`);
  if (!stat) return undefined;
  // The command name (field 2) is in parentheses and may hold spaces: count after the last ')'.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const ticks = fields[19];
  if (!ticks || !/^\d+$/.test(ticks)) return undefined;
  const boot = readProcFile('/proc/sys/kernel/random/boot_id')?.trim() ?? '';
  return `${boot}:${ticks}`;
}

let self: RunOwner | undefined;

/** This process, as it is recorded in the run folders it writes. */
export function currentOwner(): RunOwner {
  if (!self) {
    const startTime = processStartTime(process.pid);
    self = { pid: process.pid, host: hostname(), ...(startTime ? { startTime } : {}) };
  }
  return self;
}

export function isCurrentOwner(owner: RunOwner | undefined): boolean {
  const me = currentOwner();
  return owner !== undefined && owner.pid === me.pid && owner.host === me.host && owner.startTime === me.startTime;
}

/** Whether `owner` still runs: `unknown` when it ran on another host. */
export function probeRunOwner(owner: RunOwner): OwnerLiveness {
  if (owner.host !== hostname()) return 'unknown';
  if (!Number.isSafeInteger(owner.pid) || owner.pid <= 0) return 'dead';
  try {
    process.kill(owner.pid, 0);
  } catch (err) {
    // EPERM: the process exists but belongs to another user.
    if ((err as NodeJS.ErrnoException).code !== 'EPERM') return 'dead';
  }
  // A zombie (exited, not yet reaped by its parent) still answers kill(pid, 0).
  if (process.platform === 'linux' && /^\d+ \(.*\) Z /s.test(readProcFile(`/proc/${owner.pid}/stat`) ?? '')) return 'dead';
  if (owner.startTime !== undefined) {
    const now = processStartTime(owner.pid);
    if (now !== undefined && now !== owner.startTime) return 'dead';
  }
  return 'alive';
}
