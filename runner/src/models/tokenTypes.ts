/**
 * Token type ids (BERT's segment ids: 0 for the first text of a pair, 1 for the second)
 * travel inside the token-id tensor, packed as `id + type * vocabSize`. Every path that
 * feeds a model (training steps, scoring metrics, evaluation, micro-batch splitting) hands
 * `forward` one int32 [B, T] tensor and gathers or concatenates its rows; packing keeps
 * that contract, and only a model that reads token types (`input.tokenTypes` > 1) unpacks
 * them. Type 0 packs to the id itself, so single texts and padding are unchanged.
 */
import { SpruftError } from '../errors';
import { tf, type Tensor } from '../tensor/tf';

/** ids[i] + typeIds[i] * vocabSize; throws when a type is outside 0..types-1. */
export function packTokenTypes(ids: Int32Array, typeIds: Int32Array, vocabSize: number, types: number): Int32Array {
  if (typeIds.length !== ids.length) throw new Error(`internal: ${typeIds.length} token types for ${ids.length} ids`);
  if (types * vocabSize > 2 ** 31 - 1) throw new SpruftError('UNSUPPORTED', `token types: ${types} types x ${vocabSize} ids overflow int32 token ids`);
  return ids.map((id, i) => {
    const t = typeIds[i];
    if (t < 0 || t >= types) throw new SpruftError('DATA_INVALID', `token type ${t} is outside the model's ${types} token types (type_vocab_size)`);
    return id + t * vocabSize;
  });
}

/** The token ids and token type ids of a packed [B, T] tensor (both int32). */
export function unpackTokenTypes(packed: Tensor, vocabSize: number): { ids: Tensor; typeIds: Tensor } {
  return tf.tidy(() => {
    const v = tf.scalar(vocabSize, 'int32');
    const typeIds = tf.floorDiv(packed, v);
    return { ids: tf.sub(packed, tf.mul(typeIds, v)), typeIds };
  });
}

/** The token ids of packed ids, on the CPU (to show an example's text). */
export function tokenIdsOf(packed: ArrayLike<number>, vocabSize: number): number[] {
  return Array.from(packed, (id) => id % vocabSize);
}
