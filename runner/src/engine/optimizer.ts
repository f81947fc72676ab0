/**
 * Adam and AdamW (Kingma & Ba; decoupled weight decay of Loshchilov & Hutter) over the
 * trainable tensors of a method. The state (first and second moments, step count) is
 * plain tensors so that checkpoints can store it and a resumed run continues exactly.
 */
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
    // One tidy per parameter: the update's temporaries never exist for all parameters at
    // once (for full fine-tuning they would be several copies of the model).
    for (const p of this.params) {
      tf.tidy(() => {
        let g = grads.get(p.name);
        if (!g) return;
        // Adam's weight decay is an L2 term in the gradient; AdamW's is decoupled.
        if (kind === 'adam' && weightDecay > 0) g = tf.add(g, tf.mul(p.variable, weightDecay));
        const m = this.m.get(p.name)!;
        const v = this.v.get(p.name)!;
        m.assign(tf.add(tf.mul(m, beta1), tf.mul(g, 1 - beta1)));
        v.assign(tf.add(tf.mul(v, beta2), tf.mul(tf.square(g), 1 - beta2)));
        const update = tf.div(tf.div(m, c1), tf.add(tf.sqrt(tf.div(v, c2)), epsilon));
        let next = tf.sub(p.variable, tf.mul(update, lr));
        if (kind === 'adamw' && weightDecay > 0) next = tf.sub(next, tf.mul(p.variable, lr * weightDecay));
        p.variable.assign(next);
      });
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
