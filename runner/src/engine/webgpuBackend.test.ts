/**
 * `backend: webgpu` on a machine without a GPU (this project's machines have none): an
 * explicit choice fails with a message that says why and what to install; `auto` records
 * why it passed over webgpu and falls back to the next backend that loads.
 */
import assert from 'node:assert/strict';
import { it } from 'node:test';
import { BackendError, initBackend, WEBGPU_PACKAGES } from './backend';
import { tf } from '../tensor/tf';

it('backend: webgpu without a GPU fails with why and what to install; auto falls back past it', async () => {
  await assert.rejects(initBackend('webgpu'), (err: Error) => {
    assert.ok(err instanceof BackendError);
    assert.equal(err.code, 'BACKEND_UNAVAILABLE');
    // Not installed here, or installed with no GPU adapter: either way, said plainly.
    assert.match(err.message, /backend "webgpu" could not start \(webgpu: (webgpu \(Dawn for Node\) is not installed|Dawn found no GPU adapter on this machine)/);
    assert.ok(err.message.includes(`npm install ${WEBGPU_PACKAGES.join(' ')}`), err.message);
    assert.match(err.message, /backend: auto, which falls back to wasm/);
    return true;
  });
  const info = await initBackend('auto');
  assert.notEqual(info.name, 'webgpu');
  assert.equal(tf.getBackend(), info.name);
  assert.match(info.reason, /webgpu \(webgpu\) skipped: /);
});
