/**
 * The fine-tuning methods, named once: the config's `method` / `compare` values, the
 * CLI's `--method` / `--compare`, the runner's registry (runner/src/engine/methods/,
 * one module per method), the dashboard's colours and the language server's
 * completions all derive from this list. Free of dependencies, so the webview can import it.
 * Adding a method: docs/methods.md.
 */
export const METHODS = ['spruft', 'lora', 'full', 'head', 'vera', 'dora'] as const;

export type Method = (typeof METHODS)[number];

/** One line per method: the schema's value descriptions (hover, completion details). */
export const METHOD_DOCS: { readonly [M in Method]: string } = {
  spruft: 'Tune the top rows of each targeted layer, chosen by an importance metric (paper 4.1, eq. 5).',
  lora: 'Low-rank adapters (alpha / r) B A with dropout (eq. 3-4): the paper\'s main baseline.',
  full: 'Train every weight (FFT in table 5).',
  head: 'Train only the classifier (Head in table 7).',
  vera: 'VeRA: shared frozen random A and B, trained vectors lambda_d and lambda_b (tables 1 and 3); linear layers only.',
  dora: 'DoRA: magnitude m and direction W0 + (alpha / r) B A normalised per output (tables 1, 3 and 11); reads `lora:`.',
};

/** The config sections a method reads its own settings from. */
export type MethodSection = 'spruft' | 'lora' | 'vera';

/**
 * What the config checks need to know of each method without the runner: whether it adapts
 * the `targets:` layers (else it trains whole weights or only the head), and the section of
 * its settings (DoRA reads `lora:`, as PEFT's `LoraConfig(use_dora=True)`). The runner's
 * method modules take theirs from here.
 */
export interface MethodTraits {
  readonly usesTargets: boolean;
  readonly section?: MethodSection;
}

export const METHOD_TRAITS: { readonly [M in Method]: MethodTraits } = {
  spruft: { usesTargets: true, section: 'spruft' },
  lora: { usesTargets: true, section: 'lora' },
  full: { usesTargets: false },
  head: { usesTargets: false },
  vera: { usesTargets: true, section: 'vera' },
  dora: { usesTargets: true, section: 'lora' },
};

/** The methods that adapt `targets:`, in METHODS order. */
export const TARGET_METHODS: readonly Method[] = METHODS.filter((m) => METHOD_TRAITS[m].usesTargets);

/** The methods that read `section`, in METHODS order. */
export const methodsReading = (section: MethodSection): Method[] => METHODS.filter((m) => METHOD_TRAITS[m].section === section);
