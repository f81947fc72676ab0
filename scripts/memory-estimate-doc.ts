/**
 * Writes docs/memory-estimate.md: the memory estimate (runner/src/config/memoryEstimate.ts)
 * for Llama-2-7B from its config.json alone (test/fixtures/models/llama-2-7b-config, no
 * weights), side by side with the paper's measured "mem" (tables 1, 11 and 12: LoRA,
 * SPruFT and their freeze-attention variants), and the tokens-per-step assumption it
 * needs. Run from the repository root:
 *
 *   npx tsx scripts/memory-estimate-doc.ts            (writes the doc)
 *   npx tsx scripts/memory-estimate-doc.ts --check    (exit 1 if the doc is out of date)
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { resolveRunConfig, type RunConfigFile } from '../protocol/config';
import type { InspectResult } from '../protocol/results';
import { estimateTrainingMemory, type EstimateProfile } from '../runner/src/config/memoryEstimate';
import { selectTargetLayers } from '../runner/src/config/targets';
import { inspectModelHeader } from '../runner/src/models/inspect';

const ROOT = join(__dirname, '..');
export const DOC_PATH = join(ROOT, 'docs', 'memory-estimate.md');
export const FIXTURE = join(ROOT, 'test', 'fixtures', 'models', 'llama-2-7b-config');
const GiB = 1024 ** 3;

/** The paper's Llama-2-7B rows: table 12 ("mem", #param); tables 1 and 11 repeat LoRA r=64, SPruFT r=128, FA-SPruFT r=128. */
export const PAPER_ROWS: Array<{ method: 'spruft' | 'lora' | 'vera' | 'dora'; rank: number; fa: boolean; memGB: number; paramsM: number; table: string }> = [
  { method: 'lora', rank: 64, fa: false, memGB: 23.46, paramsM: 159.9, table: '1, 11, 12' },
  { method: 'spruft', rank: 128, fa: false, memGB: 17.62, paramsM: 145.8, table: '11, 12' },
  { method: 'spruft', rank: 128, fa: true, memGB: 15.21, paramsM: 78.6, table: '4, 11, 12' },
  { method: 'lora', rank: 64, fa: true, memGB: 17.25, paramsM: 92.8, table: '4, 11, 12' },
  { method: 'lora', rank: 32, fa: false, memGB: 22.21, paramsM: 80.0, table: '12' },
  { method: 'lora', rank: 16, fa: false, memGB: 21.64, paramsM: 40.0, table: '12' },
  { method: 'spruft', rank: 64, fa: false, memGB: 16.2, paramsM: 72.9, table: '12' },
  { method: 'spruft', rank: 32, fa: false, memGB: 15.57, paramsM: 36.4, table: '12' },
  { method: 'lora', rank: 32, fa: true, memGB: 16.56, paramsM: 46.4, table: '12' },
  { method: 'lora', rank: 16, fa: true, memGB: 16.29, paramsM: 23.2, table: '12' },
  { method: 'spruft', rank: 64, fa: true, memGB: 14.48, paramsM: 39.3, table: '12' },
  { method: 'spruft', rank: 32, fa: true, memGB: 14.16, paramsM: 19.7, table: '12' },
];

type Row = (typeof PAPER_ROWS)[number];

/** The paper's VeRA and DoRA rows on Llama-2-7B (tables 1 and 11; r = 64, LoRA's alpha 16 and dropout 0.1): compared, not fitted. */
export const OTHER_ROWS: Row[] = [
  { method: 'dora', rank: 64, fa: false, memGB: 44.85, paramsM: 161.3, table: '1, 3, 11' },
  { method: 'vera', rank: 64, fa: false, memGB: 22.97, paramsM: 1.37, table: '1, 3' },
  { method: 'dora', rank: 64, fa: true, memGB: 30.61, paramsM: 93.6, table: '11' },
];

/** The estimate of one row: batch x sequence tokens, the paper's settings (5.3: LoRA alpha 16, dropout 0.1; all linear layers of attention and MLP, or MLP only with FA). */
export function estimateRow(model: InspectResult, row: Row, batch: number, sequence: number, profile: EstimateProfile) {
  const file: RunConfigFile = {
    model: { path: FIXTURE }, task: 'causal-lm', data: { dataset: 'text', text: { maxLength: sequence } }, method: row.method,
    spruft: { rank: row.rank }, lora: { rank: row.rank, alpha: 16, dropout: 0.1 }, vera: { rank: row.rank, dropout: 0.1 },
    targets: { layerTypes: ['linear'], freezeAttention: row.fa }, training: { batchSize: batch },
  };
  const config = resolveRunConfig(file, { baseDir: ROOT, resolvePath: (_b, p) => p });
  return estimateTrainingMemory(model, config, row.method, selectTargetLayers(model, config.targets).layers, { profile });
}

const NAMES = { spruft: 'SPruFT', lora: 'LoRA', vera: 'VeRA', dora: 'DoRA' } as const;
const label = (r: Row): string => `${r.fa ? 'FA-' : ''}${NAMES[r.method]} r=${r.rank}`;
const gib = (bytes: number): string => (bytes / GiB).toFixed(2);

/** Tokens per step that best fit all rows at once (least squares of mem in that one unknown, which enters linearly). */
export function fitTokens(model: InspectResult): { tokens: number; fixed: number[]; perToken: number[] } {
  // mem(N) = fixed + N * perToken: read both off the estimate at two sizes.
  const fixed: number[] = [];
  const perToken: number[] = [];
  for (const row of PAPER_ROWS) {
    const a = estimateRow(model, row, 1, 1000, 'pytorch').breakdown.total;
    const b = estimateRow(model, row, 1, 2000, 'pytorch').breakdown.total;
    perToken.push((b - a) / 1000);
    fixed.push(a - 1000 * ((b - a) / 1000));
  }
  let num = 0;
  let den = 0;
  PAPER_ROWS.forEach((row, i) => {
    num += perToken[i] * (row.memGB * GiB - fixed[i]);
    den += perToken[i] ** 2;
  });
  return { tokens: num / den, fixed, perToken };
}

export function renderDoc(): string {
  const model = inspectModelHeader(FIXTURE);
  const fit = fitTokens(model);
  const n = Math.round(fit.tokens);
  const lines: string[] = [];
  lines.push('# Memory estimate vs the paper (Llama-2-7B)');
  lines.push('');
  lines.push('Generated by `npx tsx scripts/memory-estimate-doc.ts` (do not edit by hand). The estimate');
  lines.push('(`runner/src/config/memoryEstimate.ts`, the one `spruft check` and the language server show) reads');
  lines.push('only `test/fixtures/models/llama-2-7b-config/config.json`: no weights are here or needed.');
  lines.push(`From it: ${model.params.toLocaleString('en')} parameters, ${model.transformer!.blocks} blocks, hidden ${model.transformer!.hidden}, MLP ${model.transformer!.intermediate}, ${model.transformer!.heads} heads, vocabulary ${model.transformer!.vocab}.`);
  lines.push('');
  lines.push('"mem" is the paper\'s mem_TTL - mem_M (appendix C.3): trainable parameters, their gradients, Adam\'s two');
  lines.push('moments, the activation cache and LoRA\'s dropout masks, in GiB (PyTorch reports bytes / 1024^3;');
  lines.push('the paper\'s "param" of 2.51 GB for LoRA r=64 is 159.9M x 16 bytes = 2.38 GiB plus the rank-dependent');
  lines.push('cache, which fits GiB better than 10^9 bytes).');
  lines.push('');
  lines.push('## Assumptions, and how they follow from the paper\'s setup');
  lines.push('');
  lines.push('- float32 weights, trainables, gradients and Adam state (paper 5.2-5.3: "full-precision", Adam).');
  lines.push('- Targets: every linear layer of attention and MLP (q, k, v, o, gate, up, down); FA: gate, up, down');
  lines.push('  only (paper 5.2, 6.1). LoRA alpha 16, dropout 0.1 (5.3); SPruFT r rows per layer, no bias (Llama has none).');
  lines.push('- Profile `pytorch` (the paper ran Hugging Face transformers on PyTorch, 5.3): attention through SDPA\'s');
  lines.push('  memory-efficient kernel, which keeps q, k, v, its output and a log-sum-exp, not the heads x T x T');
  lines.push('  probabilities (transformers\' default for Llama since 4.36; with eager attention the probabilities alone');
  lines.push(`  would be ${gib(32 * 32 * 2048 * 2048 * 4)} GiB for one 2048-token sequence, more than any "mem" the paper reports); the`);
  lines.push('  model returns float32 logits and the loss keeps its log-softmax (two vocabulary-wide vectors per token).');
  lines.push('- Tokens per step N = batch x sequence length. The paper gives max length 2048, "truncation for longer');
  lines.push('  inputs and padding for shorter ones" (5.3), but neither the batch size nor whether padding goes to 2048');
  lines.push('  or to the longest sample of each batch; peak memory is set by the largest batch of the run. N is');
  lines.push(`  therefore the one unknown. Fitted to all ${PAPER_ROWS.length} Llama-2-7B rows at once (least squares; mem is linear in N): **N = ${n} tokens**`);
  lines.push('  (e.g. one Alpaca sample padded to its batch\'s longest, or a batch of a few). The columns at N = 2048 show');
  lines.push('  the other reading (one sequence padded to the maximum length, batch 1).');
  lines.push('');
  lines.push('## Side by side');
  lines.push('');
  lines.push(`| setting | paper #param | estimate #param | paper mem (GiB) | estimate, N = ${n} | error | estimate, N = 2048 | error | of which cache + masks (N = ${n}) |`);
  lines.push('|---|---:|---:|---:|---:|---:|---:|---:|---:|');
  const errors: number[] = [];
  for (const row of PAPER_ROWS) {
    const fitted = estimateRow(model, row, 1, n, 'pytorch');
    const full = estimateRow(model, row, 1, 2048, 'pytorch');
    const paper = row.memGB * GiB;
    const e1 = fitted.breakdown.total / paper - 1;
    const e2 = full.breakdown.total / paper - 1;
    errors.push(e1);
    const pct = (e: number): string => `${e >= 0 ? '+' : ''}${(100 * e).toFixed(1)}%`;
    lines.push(`| ${label(row)} (table ${row.table}) | ${row.paramsM.toFixed(1)}M | ${(fitted.trainableParams / 1e6).toFixed(1)}M | ${row.memGB.toFixed(2)} | ${gib(fitted.breakdown.total)} | ${pct(e1)} | ${gib(full.breakdown.total)} | ${pct(e2)} | ${gib(fitted.breakdown.cache + fitted.breakdown.dropout)} |`);
  }
  const worst = Math.max(...errors.map(Math.abs));
  lines.push('');
  const ratio = (a: Row, b: Row, tokens: number): number => estimateRow(model, a, 1, tokens, 'pytorch').breakdown.total / estimateRow(model, b, 1, tokens, 'pytorch').breakdown.total;
  const [lora64, spruft128, faSpruft128] = PAPER_ROWS;
  lines.push(`Largest error at N = ${n}: ${(100 * worst).toFixed(1)}%. The ratios the paper draws (tables 1 and 11):`);
  lines.push(`mem(SPruFT r=128)/mem(LoRA r=64) = ${(17.62 / 23.46).toFixed(3)} in the paper, ${ratio(spruft128, lora64, n).toFixed(3)} estimated (${ratio(spruft128, lora64, 2048).toFixed(3)} at N = 2048);`);
  lines.push(`mem(FA-SPruFT r=128)/mem(LoRA r=64) = ${(15.21 / 23.46).toFixed(3)} in the paper, ${ratio(faSpruft128, lora64, n).toFixed(3)} estimated.`);
  lines.push('The trainable-parameter counts from config.json equal the paper\'s #param column in every row.');
  lines.push('');
  lines.push('## VeRA and DoRA (compared, not fitted)');
  lines.push('');
  lines.push(`The paper's VeRA and DoRA rows (r = 64, dropout 0.1), at the same N = ${n}, PyTorch profile (PEFT under autograd:`);
  lines.push('VeRA keeps A x and the [N, d_out] product for d lambda_b; DoRA keeps the base and LoRA products separately');
  lines.push('for the magnitude\'s gradient, besides LoRA\'s). The estimate does not follow PEFT\'s DoRA transients');
  lines.push('(B A formed through an identity matrix, the normalised weight) and falls short of the paper\'s measured mem.');
  lines.push('');
  lines.push(`| setting | paper #param | estimate #param | paper mem (GiB) | estimate, N = ${n} | error | this engine (profile engine), N = ${n} |`);
  lines.push('|---|---:|---:|---:|---:|---:|---:|');
  for (const row of OTHER_ROWS) {
    const e = estimateRow(model, row, 1, n, 'pytorch');
    const engine = estimateRow(model, row, 1, n, 'engine');
    const err = e.breakdown.total / (row.memGB * GiB) - 1;
    lines.push(`| ${label(row)} (table ${row.table}) | ${row.paramsM.toFixed(row.method === 'vera' ? 2 : 1)}M | ${(e.trainableParams / 1e6).toFixed(row.method === 'vera' ? 2 : 1)}M | ${row.memGB.toFixed(2)} | ${gib(e.breakdown.total)} | ${err >= 0 ? '+' : ''}${(100 * err).toFixed(1)}% | ${gib(engine.breakdown.total)} |`);
  }
  lines.push('');
  lines.push('## This engine on the same model');
  lines.push('');
  lines.push('The same config with profile `engine` (what this runner would keep: attention keeps its probabilities)');
  lines.push('and with `training.checkpointing: blocks` (each block keeps only its input; one block is rebuilt at a');
  lines.push('time in backward, counted as "other"), N = 2048 (batch 1); the training loss fused with the LM head and');
  lines.push('chunked over the tokens (`lmLoss: fused`, what the engine runs: the head\'s input and one log-sum-exp per');
  lines.push('token kept) and, for comparison, with the softmax over the vocabulary kept (`lmLoss: logits`, before it):');
  lines.push('');
  lines.push('| setting | mem, no checkpointing (GiB) | mem, checkpointing blocks (GiB) | no checkpointing, logits kept | checkpointing, logits kept |');
  lines.push('|---|---:|---:|---:|---:|');
  const engineRow = (row: Row, checkpointing: 'none' | 'blocks', lmLoss: 'fused' | 'logits') => {
    const file: RunConfigFile = {
      model: { path: FIXTURE }, task: 'causal-lm', data: { dataset: 'text', text: { maxLength: 2048 } }, method: row.method,
      spruft: { rank: row.rank }, lora: { rank: row.rank, alpha: 16, dropout: 0.1 },
      targets: { layerTypes: ['linear'], freezeAttention: row.fa }, training: { batchSize: 1, checkpointing },
    };
    const config = resolveRunConfig(file, { baseDir: ROOT, resolvePath: (_b, p) => p });
    return estimateTrainingMemory(model, config, row.method, selectTargetLayers(model, config.targets).layers, { profile: 'engine', lmLoss }).breakdown.total;
  };
  const settings = [['none', 'fused'], ['blocks', 'fused'], ['none', 'logits'], ['blocks', 'logits']] as const;
  const table = PAPER_ROWS.slice(0, 4).map((row) => settings.map(([c, l]) => engineRow(row, c, l)));
  PAPER_ROWS.slice(0, 4).forEach((row, i) => lines.push(`| ${label(row)} | ${table[i].map(gib).join(' | ')} |`));
  // Rows 0-3: LoRA r=64, SPruFT r=128, FA-SPruFT r=128, FA-LoRA r=64.
  lines.push(`| mem(SPruFT r=128)/mem(LoRA r=64) | ${settings.map((_, k) => (table[1][k] / table[0][k]).toFixed(3)).join(' | ')} |`);
  lines.push(`| mem(FA-SPruFT r=128)/mem(FA-LoRA r=64) | ${settings.map((_, k) => (table[2][k] / table[3][k]).toFixed(3)).join(' | ')} |`);
  lines.push('');
  return lines.join('\n');
}

if (require.main === module) {
  const text = renderDoc();
  if (process.argv.includes('--check')) {
    const current = readFileSync(DOC_PATH, 'utf8');
    if (current !== text) {
      process.stderr.write(`${DOC_PATH} is out of date: run npx tsx scripts/memory-estimate-doc.ts\n`);
      process.exit(1);
    }
  } else {
    writeFileSync(DOC_PATH, text);
    process.stdout.write(`wrote ${DOC_PATH}\n`);
  }
}
