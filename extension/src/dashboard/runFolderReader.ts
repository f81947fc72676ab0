/**
 * Reads a run folder for the dashboard without the runner: the files RUN_FILES names,
 * folded by protocol/dashboardSnapshot.ts (the same reading the runner does).
 */
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { snapshotFromRunFolder } from '../../../protocol/dashboardSnapshot';
import { RUN_FILES, type DashboardSnapshot } from '../../../protocol/runFolder';
import { probeRunOwner } from '../../../runner/src/run/owner';

export class NotARunFolderError extends Error {
  constructor(dir: string) {
    super(`${dir} is not a SPruFT run folder (it has no ${RUN_FILES.status}). Pick a folder that \`spruft train\` wrote, under the config's output.dir (default: runs/).`);
    this.name = 'NotARunFolderError';
  }
}

export function isRunFolder(dir: string): boolean {
  return existsSync(join(dir, RUN_FILES.status));
}

export function readRunFolder(runDir: string): DashboardSnapshot {
  const read = (relativePath: string): string | undefined => {
    try {
      return readFileSync(join(runDir, relativePath), 'utf8');
    } catch {
      return undefined;
    }
  };
  const compareRoot = join(runDir, RUN_FILES.compareDir);
  const compared = existsSync(compareRoot) ? readdirSync(compareRoot).filter((name) => statSync(join(compareRoot, name)).isDirectory()).sort() : [];
  // With the owner probe, a run whose runner was killed or crashed reads `interrupted`.
  const snapshot = snapshotFromRunFolder(runDir, read, compared, probeRunOwner);
  if (!snapshot) throw new NotARunFolderError(runDir);
  return snapshot;
}
