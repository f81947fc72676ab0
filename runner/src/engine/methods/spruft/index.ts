/**
 * `spruft` (paper 4.1): row adapters W_f on the rows importance scoring selected in each
 * target layer (eq. 5), every layer kind; with `spruft.dependency` also the dependent
 * input columns (appendix B). Adapter tensors: `<layer>.spruft_W_f` in the base tensor's
 * layout with its row axis cut to r, `.spruft_b_f`, `.spruft_W_dep` (protocol/adapter.ts).
 */
import { adapterTensorName } from '../../../../../protocol/adapter';
import { SpruftError } from '../../../errors';
import { toFileLayout } from '../../../models/model';
import { dims } from '../../../tensor/ops/grad';
import { tf } from '../../../tensor/tf';
import { engineColumnAxis, engineRowAxis, fileAxis, frozenVariable, uniqueName, zerosVariable } from '../common';
import type { MethodModule } from '../method';
import { spruftInfo } from './config';
import { RowsTraining } from './layer';

export const spruft: MethodModule = {
  ...spruftInfo,

  attach(_model, o) {
    if (!o.selection) throw new SpruftError('INTERNAL', 'spruft needs a row selection (score first)');
    const byName = new Map(o.selection.map((s) => [s.name, s]));
    const adapted = [];
    for (const layer of o.targets) {
      const sel = byName.get(layer.name);
      if (!sel) continue;
      const withBias = o.config.spruft.trainBias && layer.bias !== undefined;
      const columns = sel.columns && sel.columns.length > 0 ? sel.columns : undefined;
      // W_f (and W_f,dep, appendix B) zero at start: training starts from the frozen model.
      layer.training = new RowsTraining({
        rows: sel.rows,
        wf: zerosVariable(layer.rowAdapterShape(sel.rows.length), uniqueName(`${layer.name}.spruft_W_f`)),
        bf: withBias ? zerosVariable([sel.rows.length], uniqueName(`${layer.name}.spruft_b_f`)) : undefined,
        scores: sel.scores,
        columns: columns ? { columns, wdep: zerosVariable(layer.columnAdapterShape(columns.length), uniqueName(`${layer.name}.spruft_W_dep`)) } : undefined,
      });
      adapted.push(layer);
    }
    return { adapted };
  },

  adapter: {
    writeLayer(layer, w) {
      const t = layer.training;
      if (t.kind !== 'rows') throw new Error(`internal: spruft layer ${layer.name} has no row training`);
      // W_f has the engine layout of W with its row axis cut to r; in the file, the base's layout.
      w.entry.rowAxis = fileAxis(engineRowAxis(layer), dims(layer.weight).length, w.layout);
      w.put(adapterTensorName.spruftRows(layer.name), toFileLayout(t.wf, w.layout));
      if (t.bf) w.put(adapterTensorName.spruftBias(layer.name), t.bf);
      w.entry.rows = t.rows;
      w.entry.scores = t.scores;
      if (t.columns) {
        // Appendix B's W_f,dep: the base's layout with its input axis cut to c.
        w.entry.columnAxis = fileAxis(engineColumnAxis(layer), dims(layer.weight).length, w.layout);
        w.put(adapterTensorName.spruftDependency(layer.name), toFileLayout(t.columns.wdep, w.layout));
        w.entry.columns = t.columns.columns;
      }
    },
    readLayer(layer, r) {
      const name = layer.name;
      const wf = tf.tidy(() => r.fromFile(r.tensor(adapterTensorName.spruftRows(name))));
      const biasName = adapterTensorName.spruftBias(name);
      const columns = r.spec.columns && r.spec.columns.length > 0 ? r.spec.columns : undefined;
      const wdep = columns ? tf.tidy(() => r.fromFile(r.tensor(adapterTensorName.spruftDependency(name)))) : undefined;
      return new RowsTraining({
        rows: r.spec.rows ?? [], wf: frozenVariable(wf), bf: r.has(biasName) ? frozenVariable(r.tensor(biasName)) : undefined, scores: r.spec.scores,
        columns: columns && wdep ? { columns, wdep: frozenVariable(wdep) } : undefined,
      });
    },
    configFields: (config, metric) => ({ metric, rank: config.spruft.rank, ratio: config.spruft.ratio }),
  },
};

export { RowsTraining };
