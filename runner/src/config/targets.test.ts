import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { InspectResult } from '../../../protocol/results';
import { isAttentionLayer, matchesPattern, selectTargetLayers, suggestPatterns } from './targets';

const layer = (name: string, kind: InspectResult['layers'][number]['kind'] = 'linear') => ({ name, kind, shape: [4, 4], params: 16, dOut: 4, dIn: 4 });
const model = {
  layers: [
    layer('model.layers.0.self_attn.q_proj'),
    layer('model.layers.0.mlp.up_proj'),
    layer('model.layers.1.self_attn.q_proj'),
    layer('model.layers.1.mlp.up_proj'),
    layer('model.layers.0.input_layernorm', 'rmsnorm'),
    layer('lm_head'),
  ],
};
const targets = { include: ['*'], exclude: [] as string[], layerTypes: ['linear' as const, 'conv2d' as const], freezeAttention: false };
const names = (t: typeof targets) => selectTargetLayers(model, t).layers.map((l) => l.name);

describe('target layers', () => {
  it('matches whole names, `*` across dots', () => {
    assert.ok(matchesPattern('model.layers.0.mlp.up_proj', '*.mlp.*'));
    assert.ok(!matchesPattern('model.layers.0.mlp.up_proj', 'mlp'));
    assert.ok(matchesPattern('block_16_project', 'block_*_project'));
    assert.ok(!matchesPattern('a+b', 'a.b'), 'other characters are literal');
  });

  it('knows attention layers by name, not the MLP after them', () => {
    assert.ok(isAttentionLayer('model.layers.0.self_attn.q_proj'));
    assert.ok(isAttentionLayer('vit.encoder.layer.0.attention.output.dense'));
    assert.ok(!isAttentionLayer('vit.encoder.layer.0.output.dense'));
    assert.ok(!isAttentionLayer('model.layers.0.mlp.attn_like_proj'));
  });

  it('selects by pattern, type, exclusion and freezeAttention', () => {
    assert.deepEqual(names(targets), ['model.layers.0.self_attn.q_proj', 'model.layers.0.mlp.up_proj', 'model.layers.1.self_attn.q_proj', 'model.layers.1.mlp.up_proj', 'lm_head']);
    assert.deepEqual(names({ ...targets, exclude: ['lm_head'], freezeAttention: true }), ['model.layers.0.mlp.up_proj', 'model.layers.1.mlp.up_proj']);
    assert.deepEqual(names({ ...targets, include: ['*norm'], layerTypes: ['norm' as never] }), ['model.layers.0.input_layernorm']);
  });

  it('suggests patterns that match several layers', () => {
    assert.deepEqual(suggestPatterns(model, ['linear']).map((p) => `${p.pattern}:${p.count}`), [
      '*.layers.*:4',
      '*.mlp.*:2',
      '*.q_proj:2',
      '*.self_attn.*:2',
      '*.up_proj:2',
      'model.layers.*.mlp.up_proj:2',
      'model.layers.*.self_attn.q_proj:2',
    ]);
  });
});
