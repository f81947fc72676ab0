/**
 * Adam and AdamW (Kingma & Ba; decoupled weight decay of Loshchilov & Hutter) over the
 * trainable tensors of a method. The state (first and second moments, step count) is
 * plain tensors so that checkpoints can store it and a resumed run continues exactly.
 */
import { adamFirstMoment, adamParam, adamSecondMoment } from '../tensor/ops/adam';
import { tf, type Tensor } from '../tensor/tf';

export interface OptimizerConfig {
  kind: 'adam' | 'adamw';
  beta1: number;
  beta2: number;
  epsilon: number;
  weightDecay: number;
}

export interface OptimizerState {
  step: number;
  /** name -> [m, v] as flat float32 arrays. */
  moments: Map<string, [Float32Array, Float32Array]>;
}

export class Adam {
  private m = new Map<string, tf.Variable>();
  private v = new Map<string, tf.Variable>();
  step = 0;

  constructor(private readonly config: OptimizerConfig, private readonly params: Array<{ name: string; variable: tf.Variable }>) {
    for (const p of params) {
      this.m.set(p.name, tf.tidy(() => tf.variable(tf.zerosLike(p.variable), false)));
      this.v.set(p.name, tf.tidy(() => tf.variable(tf.zerosLike(p.variable), false)));
    }
  }

  /** One update with gradients by parameter name and learning rate `lr`. */
  apply(grads: Map<string, Tensor>, lr: number): void {
    this.step += 1;
    const { beta1, beta2, epsilon, weightDecay, kind } = this.config;
    const c1 = 1 - beta1 ** this.step;
    const c2 = 1 - beta2 ** this.step;
    // Parameter by parameter, and each part assigned (its old buffer freed) before the
    // next is made: one extra buffer of the parameter's size at a time (tensor/ops/adam.ts).
    for (const p of this.params) {
      const g0 = grads.get(p.name);
      if (!g0) continue;
      // Adam's weight decay is an L2 term in the gradient; AdamW's is decoupled.
      const g = kind === 'adam' && weightDecay > 0 ? tf.tidy(() => tf.add(g0, tf.mul(p.variable, weightDecay))) : g0;
      const m = this.m.get(p.name)!;
      const v = this.v.get(p.name)!;
      tf.tidy(() => m.assign(adamFirstMoment(m, g, beta1)));
      tf.tidy(() => v.assign(adamSecondMoment(v, g, beta2)));
      if (g !== g0) g.dispose();
      const decoupledDecay = kind === 'adamw' ? weightDecay : 0;
      tf.tidy(() => p.variable.assign(adamParam(p.variable, m, v, { c1, c2, epsilon, lr, decoupledDecay })));
    }
  }

  state(): OptimizerState {
    const moments = new Map<string, [Float32Array, Float32Array]>();
    for (const p of this.params) {
      moments.set(p.name, [this.m.get(p.name)!.dataSync() as Float32Array, this.v.get(p.name)!.dataSync() as Float32Array]);
    }
    return { step: this.step, moments };
  }

  load(state: OptimizerState): void {
    this.step = state.step;
    for (const p of this.params) {
      const mv = state.moments.get(p.name);
      if (!mv) throw new Error(`optimizer state has no moments for ${p.name}`);
      tf.tidy(() => {
        this.m.get(p.name)!.assign(tf.tensor(mv[0], p.variable.shape));
        this.v.get(p.name)!.assign(tf.tensor(mv[1], p.variable.shape));
      });
    }
  }

  dispose(): void {
    tf.dispose([...this.m.values(), ...this.v.values()]);
  }
}
