/**
 * Zero-shot multiple choice per task (paper table 3): the frozen model's acc and acc_norm
 * before tuning beside each method's after it, as the LM evaluation harness reports them.
 * A table, not a chart: a handful of tasks, and the numbers are what is compared. Drawn
 * from each method's result, so it fills in when a method finishes and from a reopened
 * run folder alike; hidden for runs without multiple-choice tasks.
 */
import { formatPercent } from '../../../protocol/format';
import type { MultipleChoiceScore } from '../../../protocol/results';
import type { MethodView } from '../../../protocol/runFolder';

export interface MultipleChoiceRow {
  task: string;
  questions: number;
  before?: Pick<MultipleChoiceScore, 'acc' | 'accNorm'>;
  /** By method, in the run's method order. */
  after: Array<{ method: string; acc: number; accNorm: number }>;
}

/** One row per task any method scored; `before` from the first result that has it. */
export function multipleChoiceRows(methods: readonly MethodView[]): MultipleChoiceRow[] {
  const rows = new Map<string, MultipleChoiceRow>();
  for (const view of methods) {
    const result = view.result;
    const after = result && 'multipleChoice' in result.metrics ? result.metrics.multipleChoice : undefined;
    for (const [task, score] of Object.entries(after ?? {})) {
      const row = rows.get(task) ?? { task, questions: score.n, after: [] };
      const before = result?.before?.multipleChoice?.[task];
      if (!row.before && before) row.before = { acc: before.acc, accNorm: before.accNorm };
      row.after.push({ method: view.method, acc: score.acc, accNorm: score.accNorm });
      rows.set(task, row);
    }
  }
  return [...rows.values()];
}

/** "62.5% (+12.5)": a score and its change from before tuning, in points. */
function withChange(value: number, before: number | undefined): string {
  if (before === undefined) return formatPercent(value);
  const points = (value - before) * 100;
  return `${formatPercent(value)} (${points >= 0 ? '+' : '−'}${Math.abs(points).toFixed(1)})`;
}

export class MultipleChoiceView {
  private readonly section: HTMLElement;
  private readonly table: HTMLTableElement;
  private readonly caption: HTMLElement;

  constructor(parent: HTMLElement) {
    this.section = document.createElement('section');
    this.section.dataset.section = 'multiple-choice';
    const heading = document.createElement('h2');
    heading.textContent = 'Zero-shot multiple choice';
    this.caption = document.createElement('p');
    this.caption.className = 'caption';
    this.table = document.createElement('table');
    this.table.dataset.view = 'multiple-choice-table';
    this.section.append(heading, this.caption, this.table);
    this.section.hidden = true;
    parent.append(this.section);
  }

  render(methods: readonly MethodView[]): void {
    const rows = multipleChoiceRows(methods);
    this.section.hidden = rows.length === 0;
    if (rows.length === 0) return;
    const names = rows[0]!.after.map((a) => a.method);
    const hasBefore = rows.some((r) => r.before);
    this.caption.textContent = 'acc: the choice of highest log-likelihood; acc_norm: highest per character of the choice (LM evaluation harness). '
      + (hasBefore ? 'After tuning, in brackets the change from the frozen model, in points.' : '');
    const head = ['task', 'questions', ...(hasBefore ? ['before acc', 'before acc_norm'] : []), ...names.flatMap((m) => [`${m} acc`, `${m} acc_norm`])];
    const thead = document.createElement('thead');
    const headRow = document.createElement('tr');
    for (const h of head) {
      const th = document.createElement('th');
      th.scope = 'col';
      th.textContent = h;
      headRow.append(th);
    }
    thead.append(headRow);
    const tbody = document.createElement('tbody');
    for (const row of rows) {
      const tr = document.createElement('tr');
      tr.dataset.task = row.task;
      const cells = [
        row.task,
        String(row.questions),
        ...(hasBefore ? [row.before ? formatPercent(row.before.acc) : '–', row.before ? formatPercent(row.before.accNorm) : '–'] : []),
        ...names.flatMap((m) => {
          const a = row.after.find((x) => x.method === m);
          return a ? [withChange(a.acc, row.before?.acc), withChange(a.accNorm, row.before?.accNorm)] : ['–', '–'];
        }),
      ];
      for (const text of cells) {
        const td = document.createElement('td');
        td.textContent = text;
        tr.append(td);
      }
      tbody.append(tr);
    }
    this.table.replaceChildren(thead, tbody);
  }
}
