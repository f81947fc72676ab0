/**
 * The one import of TensorFlow.js in the runner: the core API, every gradient
 * registered (tfjs-core keeps them in a separate module), and the cpu backend
 * that is always there as the last resort. Everything else imports `tf` from here.
 */
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-core/dist/register_all_gradients.js';
import '@tensorflow/tfjs-backend-cpu';

// Production mode: no per-kernel NaN checks, and no console notice urging tfjs-node
// (the backend record says which backend runs and why).
tf.env().set('PROD', true);

export { tf };
export type Tensor = tf.Tensor;
export type Tensor1D = tf.Tensor1D;
export type Tensor2D = tf.Tensor2D;
export type Tensor4D = tf.Tensor4D;
