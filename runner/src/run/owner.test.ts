/**
 * `interrupted`, defined once (protocol/runFolder.ts runStateOf) and probed here: a run
 * whose owner process is gone, or whose pid now belongs to another process, or (owner on
 * another host) whose heartbeat stopped, reads `interrupted`; a live owner's run `running`.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { hostname } from 'node:os';
import { describe, it } from 'node:test';
import { HEARTBEAT_STALE_MS, runStateOf, type RunOwner, type RunStatusFile } from '../../../protocol/runFolder';
import { currentOwner, probeRunOwner } from './owner';

const now = Date.parse('2026-12-03T08:00:00Z');
const ago = (ms: number): string => new Date(now - ms).toISOString();

function running(owner: RunOwner | undefined, heartbeatAgoMs: number): RunStatusFile {
  return { status: 'running', runId: 'r#1', method: 'spruft', startedAt: ago(3_600_000), heartbeatAt: ago(heartbeatAgoMs), ...(owner ? { owner } : {}) };
}

describe('run state', () => {
  it('probes owners: this process alive, an exited one dead, a reused pid dead, another host unknown', () => {
    const me = currentOwner();
    assert.equal(probeRunOwner(me), 'alive');
    const child = spawnSync(process.execPath, ['-e', '0']);
    assert.equal(probeRunOwner({ pid: child.pid!, host: hostname() }), 'dead', 'an exited process');
    if (process.platform === 'linux') {
      assert.ok(me.startTime, 'the start time is recorded on Linux');
      assert.equal(probeRunOwner({ ...me, startTime: `${me.startTime}0` }), 'dead', 'same pid, another process');
    }
    assert.equal(probeRunOwner({ ...me, host: `${hostname()}-elsewhere` }), 'unknown');
  });

  it('reads interrupted only when the owner is gone, or cannot be asked and its heartbeat stopped', () => {
    const alive = () => 'alive' as const;
    const dead = () => 'dead' as const;
    const unknown = () => 'unknown' as const;
    const owner = { pid: 42, host: 'h' };
    assert.equal(runStateOf(running(owner, 1000), dead, now), 'interrupted');
    assert.equal(runStateOf(running(owner, 10 * HEARTBEAT_STALE_MS), alive, now), 'running', 'a live owner is running, however slow its steps');
    assert.equal(runStateOf(running(owner, 1000), unknown, now), 'running');
    assert.equal(runStateOf(running(owner, HEARTBEAT_STALE_MS + 1), unknown, now), 'interrupted');
    assert.equal(runStateOf(running(owner, HEARTBEAT_STALE_MS + 1), undefined, now), 'interrupted', 'no probe: the heartbeat decides');
    assert.equal(runStateOf(running(undefined, 1000), dead, now), 'running', 'no owner recorded: the heartbeat decides');
    for (const status of ['completed', 'cancelled', 'failed'] as const) {
      assert.equal(runStateOf({ ...running(owner, 1000), status }, dead, now), status, `${status} stays ${status}`);
    }
  });
});
