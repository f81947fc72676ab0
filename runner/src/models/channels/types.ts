/**
 * Parameter dependency (paper appendix B, figure 2): layers connected through a tensor
 * share its channels. A channel group is one such channel space: the layers whose rows
 * are its channels (the layer producing the tensor, and channel-wise layers on it:
 * norms, depthwise convolutions) and the layers whose input columns read it. Removing
 * channel c would remove row c of every row member and column c of every column member;
 * SPruFT with dependency tunes them together (W_f for the rows, W_f,dep M_dep for the
 * columns).
 *
 * Models describe their groups (`Model.dependencies()`); this module is imported by
 * models, so it imports nothing from them.
 */
export interface ChannelGroup {
  /** For messages and reports, e.g. "residual stream" or "model.layers.3.mlp". */
  name: string;
  /** Number of channels in the space. */
  channels: number;
  /** Layers whose rows are these channels (d_out = channels, unless `rowBlocks` names the layer). */
  rows: string[];
  /**
   * Row members that hold the channels as blocks of a fused layer (GPT-2's c_attn: q, k
   * and v stacked as rows 0..d-1, d..2d-1, 2d..3d-1): channel c is row `offset + c` for
   * each offset listed. Such a layer can be a row member of several groups, on disjoint
   * rows.
   */
  rowBlocks?: Record<string, number[]>;
  /** Layers whose input columns are these channels (linear d_in / conv c_in = channels). */
  columns: string[];
}
