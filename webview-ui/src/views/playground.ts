/**
 * "Try the fine-tuned model": one input through the base model and the fine-tuned one,
 * side by side. Image tasks pick an evaluation example (its picture and true label shown)
 * or an image file;
 * text classification takes a text (two, for a run on text pairs) or an example; a decoder takes a prompt (or the start
 * of an evaluation passage) and shows each model's greedy continuation. The runner does
 * the work (`model/predict`); this view asks through the host and draws the answer.
 */
import type { ModelAnswer, PredictInput, PredictResult } from '../../../protocol/rpc';
import { formatDuration, formatPercent, formatScore } from '../../../protocol/format';
import { el } from '../layout';

type Ask = (input: PredictInput) => Promise<{ result?: PredictResult; error?: string }>;


export class Playground {
  readonly section: HTMLElement;
  private readonly caption = el('p', { class: 'caption' });
  private readonly text = el('textarea', { rows: '3', 'data-input': 'text', 'aria-label': 'Text or prompt' });
  /** The second text of a run on text pairs. */
  private readonly pair = el('textarea', { rows: '3', 'data-input': 'pair', 'aria-label': 'Second text of the pair' });
  private readonly index = el('input', { type: 'number', min: '0', value: '0', 'data-input': 'example', 'aria-label': 'Evaluation example number' });
  private readonly runText = el('button', { type: 'button', 'data-action': 'predict-text' }, 'Run');
  private readonly runExample = el('button', { type: 'button', class: 'secondary', 'data-action': 'predict-example' }, 'Show example');
  private readonly next = el('button', { type: 'button', class: 'secondary', 'data-action': 'next-example' }, 'Next');
  private readonly random = el('button', { type: 'button', class: 'secondary', 'data-action': 'random-example' }, 'Random');
  private readonly imageFile = el('button', { type: 'button', class: 'secondary', 'data-action': 'predict-image' }, 'Image file…');
  private readonly shown = el('div', { class: 'playground-input', 'data-view': 'playground-input' });
  private readonly answers = el('div', { class: 'playground-answers', 'data-view': 'playground-answers' });
  private readonly status = el('p', { class: 'message', role: 'status', 'data-view': 'playground-status' });
  private readonly textRow: HTMLElement;
  private task: PredictResult['task'] | undefined;
  private pairs = false;
  private examples = 0;

  constructor(private readonly ask: Ask) {
    this.textRow = el('div', { class: 'row' }, this.text, this.pair, this.runText);
    const exampleRow = el('div', { class: 'row' }, el('label', {}, 'Evaluation example ', this.index), this.runExample, this.next, this.random, this.imageFile);
    this.section = el('section', { 'data-section': 'playground', class: 'playground' }, el('h2', {}, 'Try the fine-tuned model'), this.caption, this.textRow, exampleRow, this.status, this.shown, this.answers);
    this.section.hidden = true;
    this.runText.addEventListener('click', () => void this.predict({ kind: 'text', text: this.text.value, ...(this.pairs ? { pair: this.pair.value } : {}) }));
    // The host asks for the file (a webview cannot hand over a path).
    this.imageFile.addEventListener('click', () => void this.predict({ kind: 'image', path: '' }));
    this.runExample.addEventListener('click', () => void this.predict({ kind: 'example', index: Number(this.index.value) || 0 }));
    this.next.addEventListener('click', () => {
      this.index.value = String(this.examples ? (Number(this.index.value) + 1) % this.examples : Number(this.index.value) + 1);
      void this.predict({ kind: 'example', index: Number(this.index.value) });
    });
    this.random.addEventListener('click', () => {
      this.index.value = String(Math.floor(Math.random() * Math.max(1, this.examples)));
      void this.predict({ kind: 'example', index: Number(this.index.value) });
    });
  }

  /** Shown for runs that hold an adapter; the controls follow the task. */
  configure(available: boolean, task: PredictResult['task'] | undefined, pairs = false): void {
    this.section.hidden = !available;
    this.task = task;
    this.pairs = pairs && task === 'text-classification';
    this.textRow.hidden = task === 'image-classification';
    this.pair.hidden = !this.pairs;
    this.pair.placeholder = 'The second text of the pair';
    this.imageFile.hidden = task !== 'image-classification';
    this.text.placeholder = task === 'causal-lm' ? 'A prompt: both models continue it, greedily' : this.pairs ? 'The first text of the pair' : 'A text to classify';
    this.runText.textContent = task === 'causal-lm' ? 'Continue' : 'Classify';
    this.caption.textContent =
      task === 'causal-lm'
        ? 'A prompt through the base model and the fine-tuned one: each adds the bytes it finds most likely, one at a time.'
        : task === 'image-classification'
          ? 'An image of the evaluation data, or an image file, through the base model and the fine-tuned one: the labels each ranks first.'
          : this.pairs
            ? 'A pair of texts through the base model and the fine-tuned one, as the run read its pairs: what each predicts.'
            : 'A text through the base model and the fine-tuned one: the labels each ranks first.';
  }

  focus(): void {
    this.section.scrollIntoView({ block: 'start' });
    (this.task === 'image-classification' ? this.runExample : this.text).focus();
  }

  private async predict(input: PredictInput): Promise<void> {
    if (input.kind === 'text' && (!input.text.trim() || (input.pair !== undefined && !input.pair.trim()))) {
      this.status.textContent = this.task === 'causal-lm' ? 'Type a prompt first.' : input.pair !== undefined ? 'Type both texts first.' : 'Type a text first.';
      return;
    }
    this.section.dataset.busy = 'true';
    this.status.textContent = 'Running both models… (the first answer loads the model and data)';
    const { result, error } = await this.ask(input);
    delete this.section.dataset.busy;
    if (!result) {
      this.status.textContent = `Could not run the models: ${error ?? 'no answer'}`;
      this.section.dataset.state = 'error';
      return;
    }
    this.section.dataset.state = 'answered';
    this.examples = result.examples;
    this.index.max = String(Math.max(0, result.examples - 1));
    this.status.textContent = `${result.examples} evaluation examples · answered in ${formatDuration(result.ms)}`;
    this.drawInput(result);
    this.answers.replaceChildren(this.column('Base model', result.base, result), this.column(`Fine-tuned (${result.method})`, result.tuned, result));
  }

  private drawInput(result: PredictResult): void {
    const parts: Node[] = [];
    const image = result.input.image;
    if (image) {
      const canvas = el('canvas', { width: String(image.width), height: String(image.height), 'data-view': 'playground-image', role: 'img', 'aria-label': `evaluation image ${result.input.index ?? ''}` });
      const ctx = canvas.getContext('2d');
      if (ctx) {
        const data = ctx.createImageData(image.width, image.height);
        for (let p = 0; p < image.width * image.height; p++) {
          const at = (c: number) => image.pixels[p * image.channels + Math.min(c, image.channels - 1)]!;
          data.data.set([at(0), at(1), at(2), 255], p * 4);
        }
        ctx.putImageData(data, 0, 0);
      }
      parts.push(canvas);
    }
    if (result.input.text !== undefined && result.task !== 'causal-lm') parts.push(el('blockquote', {}, result.input.text));
    if (result.input.pair !== undefined) parts.push(el('blockquote', { 'data-view': 'playground-pair' }, result.input.pair));
    const facts: string[] = [];
    if (result.input.index !== undefined) facts.push(`example ${result.input.index}`);
    if (result.input.label !== undefined) facts.push(`true label: ${result.input.label}`);
    if (facts.length) parts.push(el('p', { 'data-view': 'playground-label' }, facts.join(' · ')));
    this.shown.replaceChildren(...parts);
  }

  private column(title: string, answer: ModelAnswer, result: PredictResult): HTMLElement {
    const body: Node[] = [];
    if (answer.top) {
      const list = el('ol', { class: 'ranked' });
      for (const { label, probability } of answer.top) {
        const bar = el('span', { class: 'bar' });
        bar.style.width = `${Math.round(probability * 100)}%`;
        const right = result.input.label !== undefined && label === result.input.label;
        list.append(el('li', { 'data-label': label, ...(right ? { 'data-correct': 'true' } : {}) }, el('span', { class: 'name' }, label), el('span', { class: 'value' }, formatPercent(probability)), bar));
      }
      body.push(list);
    }
    if (answer.value !== undefined) body.push(el('p', { class: 'continuation', 'data-value': String(answer.value) }, `predicted ${formatScore(answer.value)}`));
    if (answer.continuation !== undefined) {
      body.push(el('p', { class: 'continuation' }, el('span', { class: 'prompt' }, result.input.text ?? ''), el('mark', {}, answer.continuation || '(end of text)')));
    }
    return el('div', { class: 'answer', 'data-model': title.startsWith('Base') ? 'base' : 'tuned' }, el('h3', {}, title), ...body);
  }
}
